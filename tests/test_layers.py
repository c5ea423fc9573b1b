"""The import layers of docs/development.md hold: the ground package imports no area, the areas
do not import one another sideways, and nothing imports the top-level CLI back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("stackwatch", "exporter", "alerter", "flows")
TOP_FLOOR = {"stackwatch.cli", "stackwatch.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    """``ground``, an area (``exporter``, ``alerter``, ``reports``, ``flows``) or ``cli``."""
    if module in TOP_FLOOR:
        return "cli"
    if module == "stackwatch.reports" or module.startswith("stackwatch.reports."):
        return "reports"
    top = module.split(".", 1)[0]
    return "ground" if top == "stackwatch" else top


# What each layer may import besides itself and the ground package.
ALLOWED = {
    "ground": set(),
    "exporter": set(),
    "alerter": set(),
    "reports": {"alerter"},  # the daily report reads alert history from the alert store
    "flows": {"exporter", "alerter", "reports"},
    "cli": {"exporter", "alerter", "reports", "flows"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".", 1)[0] in PACKAGES}


def project_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", project_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports_only_its_own_layer_and_below(path: Path) -> None:
    here = layer(module_name(path))
    wrong = sorted(
        name for name in imports_of(path) if layer(name) not in {here, "ground", *ALLOWED[here]}
    )
    assert wrong == [], f"{path.relative_to(REPO)} ({here}) imports {wrong}"


def test_nothing_imports_the_top_level_cli() -> None:
    users = [
        str(path.relative_to(REPO))
        for path in project_modules()
        if module_name(path) not in TOP_FLOOR and "stackwatch.cli" in imports_of(path)
    ]
    assert users == []
