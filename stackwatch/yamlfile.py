"""Reading YAML written by people: bounded parsing, line numbers for key paths, and readable
error messages.

Config files and rule files share these, so both report ``file:line: key: message`` alike, and
both refuse the same hostile files: one larger than ``MAX_BYTES``, nesting deeper than
``MAX_DEPTH``, or aliases that expand past ``MAX_ALIASED`` values (a "billion laughs" bomb, which
PyYAML's own loaders compose in a moment but whose data every walk over it expands).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# far above any real config or rule file; Prometheus's rule files are a few hundred kB at most
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100
# values that aliases add once expanded; YAML anchors save typing, not megabytes
MAX_ALIASED = 100_000


class YamlLimitError(yaml.MarkedYAMLError):
    """A document past one of the bounds above, where it passes it."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting while it composes: nesting depth, and the values and
    levels each alias stands for (its anchor's node with every alias inside expanded). It
    refuses an alias inside its own anchor, as Go's YAML (Prometheus's) does."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliased = 0
        # id(node) -> (values, levels) once the aliases in it are expanded
        self._sizes: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:  # still being composed: the alias is inside its anchor
                raise YamlLimitError(
                    None, None, f"alias *{event.anchor} is inside its anchor", mark
                )
            values, levels = size
            self._aliased += values
            if self._aliased > MAX_ALIASED:
                message = f"aliases expand to more than {MAX_ALIASED} values"
                raise YamlLimitError(None, None, message, mark)
            if self._depth + levels > MAX_DEPTH:
                message = f"nested deeper than {MAX_DEPTH} levels once aliases are expanded"
                raise YamlLimitError(None, None, message, mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            message = f"nested deeper than {MAX_DEPTH} levels"
            raise YamlLimitError(None, None, message, mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            sizes = [self._sizes.get(id(child), (1, 1)) for child in _children(node)]
            values = 1 + sum(v for v, _ in sizes)
            self._sizes[id(node)] = (values, 1 + max((h for _, h in sizes), default=0))
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def compose(text: str) -> yaml.Node | None:
    """The node tree of ``text``, bounded; raises yaml.YAMLError (YamlLimitError past a bound)."""
    return yaml.compose(text, Loader=BoundedLoader)


def load(text: str) -> Any:
    """The data of ``text``, bounded as ``compose`` is."""
    return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 - BoundedLoader is a SafeLoader


class YamlFileError(ValueError):
    """A file left unread: not a regular file (a named pipe would block), or too large."""


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // 1024 // 1024} MiB"
    return f"{count // 1024} KiB" if count % 1024 == 0 else f"{count} bytes"


def read_bounded(path: str | Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of ``path``; raises OSError, or YamlFileError for a file that is not regular
    (checked on the open file, which a named pipe does not block) or is past ``max_bytes``."""
    # O_NONBLOCK: opening a named pipe with no writer would block for ever
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise YamlFileError(f"{_file_kind(mode)}, not a regular file")
    with os.fdopen(fd, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlFileError(f"larger than {_size(max_bytes)}")
    return data


def not_utf8(data: bytes, start: int) -> tuple[int, str]:
    """The line of the first byte at ``start`` that is not UTF-8, and the message with its
    column."""
    line_start = data.rfind(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", errors="replace")) + 1
    line = data.count(b"\n", 0, start) + 1
    return line, f"not UTF-8 text (byte 0x{data[start]:02x} in column {column})"


def yaml_error(exc: yaml.YAMLError, text: str = "") -> tuple[int | None, str]:
    """The 1-based line and the message of a YAML syntax error (``invalid YAML: ...``);
    ``text`` is the document, which places a character the YAML reader refuses."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (NUL, ESC)
        position: int = exc.position
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        return (
            text.count("\n", 0, position) + 1,
            f"invalid YAML: unacceptable character #x{exc.character:04x} in column {column}",
        )
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
    node = compose(text)
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
