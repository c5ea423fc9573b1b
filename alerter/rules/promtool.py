"""PromQL syntax checks of rule expressions with ``promtool check rules``, when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from alerter.rules.model import Expression, RuleProblem

_PROMTOOL_ERROR = re.compile(r'rule (\d+), "r(\d+)": could not parse expression: (.*)$')


def promtool_path() -> str | None:
    return shutil.which("promtool")


def check_expressions(exprs: Sequence[Expression]) -> list[tuple[RuleProblem, Expression]]:
    """Parse each PromQL expression with ``promtool check rules``; one problem per bad one."""
    promtool = promtool_path()
    if promtool is None or not exprs:
        return []
    document = {
        "groups": [
            {
                "name": "check",
                "rules": [{"alert": f"r{i}", "expr": e.expr} for i, e in enumerate(exprs)],
            }
        ]
    }
    with tempfile.TemporaryDirectory(prefix="stackwatch-rules-") as tmp:
        path = Path(tmp) / "exprs.yml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        completed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [promtool, "check", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    problems = []
    for line in (completed.stdout + completed.stderr).splitlines():
        match = _PROMTOOL_ERROR.search(line)
        if match:
            expr = exprs[int(match.group(2))]
            message = match.group(3)
            position = re.match(r"(\d+):(\d+): (.*)$", message)
            number = expr.line
            if position:
                number += int(position.group(1)) - 1
                message = position.group(3)
            problems.append(
                (
                    RuleProblem(
                        expr.file, number, expr.rule, f"invalid PromQL: {message}", expr.group
                    ),
                    expr,
                )
            )
    return problems
