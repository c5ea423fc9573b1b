"""Reading YAML written by people: line numbers for key paths and readable error messages.

Config files and rule files share these, so both report ``file:line: key: message`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


def yaml_error(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """The 1-based line and the message of a YAML syntax error (``invalid YAML: ...``)."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        problem += f" ({context} on line {context_mark.line + 1})"
    return line, f"invalid YAML: {problem}"


def format_loc(loc: tuple[int | str, ...]) -> str:
    """Format a pydantic location as ``services[2].url``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_index(
    node: yaml.Node, path: tuple[int | str, ...], index: dict[tuple[Any, ...], int]
) -> None:
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            index[child] = key.start_mark.line + 1
            _line_index(value, child, index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), index)


def yaml_line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path in a YAML document to its 1-based line number."""
    index: dict[tuple[Any, ...], int] = {}
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None:
        _line_index(node, (), index)
    return index


def line_for(index: Mapping[tuple[Any, ...], int], loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest part of ``loc`` that the file has."""
    for end in range(len(loc), -1, -1):
        line = index.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None


def pydantic_message(error: Mapping[str, Any]) -> str:
    """A pydantic error in the words a config or rule file's author reads."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
