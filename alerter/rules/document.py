"""A rule file's YAML as plain data, with the line of every key and value for problem reports.

Scalars stay the text the author wrote (``for: 10`` is ``"10"``, ``yes`` is ``"yes"``): every
rule field is text, and a duration without a unit must be reported rather than read as seconds.
Only ``null`` and empty values become None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from stackwatch.yamlfile import compose, line_for

Loc = tuple[int | str, ...]

_NULL = "tag:yaml.org,2002:null"


@dataclass
class Document:
    """The data of one YAML document and where each part of it is written (1-based lines)."""

    data: Any = None
    key_lines: dict[Loc, int] = field(default_factory=dict)
    value_lines: dict[Loc, int] = field(default_factory=dict)
    # values written as ``|`` or ``>`` block scalars: their text starts on the next line
    blocks: set[Loc] = field(default_factory=set)

    def line(self, loc: Loc) -> int | None:
        """Where the value at ``loc`` starts, or its nearest enclosing value if it is absent."""
        return line_for(self.value_lines, loc)

    def key_line(self, loc: Loc) -> int | None:
        return self.key_lines.get(loc) or self.line(loc)

    def text_line(self, loc: Loc) -> int | None:
        """The line of the first character of a string's text (a block scalar's next line)."""
        line = self.line(loc)
        return line + 1 if line is not None and loc in self.blocks else line

    def at(self, loc: Loc) -> Any:
        """The data at ``loc``; None where the file has nothing there."""
        value = self.data
        for part in loc:
            if isinstance(value, dict) and isinstance(part, str):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return None
        return value


def parse_document(text: str) -> Document | None:
    """The document in ``text``, or None for an empty file; raises yaml.YAMLError, also for a
    document past the bounds of stackwatch.yamlfile (an alias bomb, deep nesting)."""
    root = compose(text)
    if root is None:
        return None
    document = Document()
    document.data = _convert(root, (), document)
    return document


def _convert(node: yaml.Node, loc: Loc, document: Document) -> Any:
    # an alias expands here (bounded by the composer, which also refuses one inside its anchor)
    document.value_lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue  # a complex key is never a rule-file key
            child = (*loc, str(key.value))
            document.key_lines[child] = key.start_mark.line + 1
            mapping[str(key.value)] = _convert(value, child, document)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*loc, i), document) for i, item in enumerate(node.value)]
    if node.tag == _NULL:
        return None
    if getattr(node, "style", None) in ("|", ">"):
        document.blocks.add(loc)
    return str(node.value)
