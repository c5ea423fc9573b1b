"""The Prometheus text format (0.0.4) parsed as strictly as Go's ``expfmt.TextParser``.

node_exporter's textfile collector skips a whole file on any error this parser reports, so it
follows Go's rules rather than ``prometheus_client.parser``'s looser ones: a second ``HELP`` or
``TYPE`` line for a name, a ``TYPE`` after the name's samples, an unknown type, a bad escape, a
value Go's ``ParseFloat`` rejects. Samples of one histogram or summary are grouped into metrics
by their labels without ``le``/``quantile``, as Go's ``dto.Metric`` holds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_BLANK = re.compile(r"[ \t]*")
_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?"
    r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])"
)
_TIMESTAMP = re.compile(r"[+-]?\d+")
_SPECIAL = {"le": "histogram", "quantile": "summary"}

Labels = tuple[tuple[str, str], ...]


class TextFormatError(ValueError):
    """A file that is not valid text format; the message names the line."""


@dataclass
class Sample:
    """One line's sample: its own name (``x_bucket``...), labels, value and timestamp (ms)."""

    name: str
    labels: Labels
    value: float
    timestamp: int | None = None


@dataclass
class Family:
    """A metric family: ``help`` is None where the file had no HELP line."""

    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[Sample] = field(default_factory=list)

    def metrics(self) -> list[tuple[Labels, list[Sample]]]:
        """The samples by metric: a histogram's buckets, sum and count are one metric; any
        other sample is a metric of its own, even where it repeats an earlier one's labels."""
        special = next((k for k, v in _SPECIAL.items() if v == self.type), None)
        if special is None:
            return [(sample.labels, [sample]) for sample in self.samples]
        out: dict[Labels, list[Sample]] = {}
        for sample in self.samples:
            key = tuple((k, v) for k, v in sample.labels if k != special)
            out.setdefault(key, []).append(sample)
        return list(out.items())


def _unescape(text: str, line: int, quote: bool) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        if nxt == "\\":
            out.append("\\")
        elif nxt == "n":
            out.append("\n")
        elif nxt == '"' and quote:
            out.append('"')
        else:
            raise TextFormatError(f"line {line}: invalid escape sequence '\\{nxt}'")
    return "".join(out)


def _parse_labels(text: str, pos: int, line: int) -> tuple[Labels, int]:
    """The label pairs from just after ``{``; returns them and the position after ``}``."""
    labels: list[tuple[str, str]] = []
    while True:
        pos = _BLANK.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith("}", pos):
            return tuple(labels), pos + 1
        name = _LABEL.match(text, pos)
        if name is None:
            raise TextFormatError(f"line {line}: invalid label name")
        pos = _BLANK.match(text, name.end()).end()  # type: ignore[union-attr]
        if not text.startswith("=", pos):
            raise TextFormatError(f"line {line}: expected '=' after label name {name[0]!r}")
        pos = _BLANK.match(text, pos + 1).end()  # type: ignore[union-attr]
        if not text.startswith('"', pos):
            raise TextFormatError(f"line {line}: expected '\"' at start of label value")
        end = pos + 1
        while end < len(text) and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            raise TextFormatError(f"line {line}: unterminated label value")
        if any(k == name[0] for k, _ in labels):
            raise TextFormatError(f"line {line}: duplicate label name {name[0]!r}")
        labels.append((name[0], _unescape(text[pos + 1 : end], line, quote=True)))
        pos = _BLANK.match(text, end + 1).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("}", pos):
            raise TextFormatError(f"line {line}: expected ',' or '}}' after label value")


def _family_of(name: str, families: dict[str, Family]) -> Family:
    """The family a sample name belongs to: ``x_sum`` of a summary ``x`` is ``x``'s."""
    if name in families:
        return families[name]
    for suffixes, kind in (
        (("_sum", "_count"), "summary"),
        (("_sum", "_count", "_bucket"), "histogram"),
    ):
        for suffix in suffixes:
            base = families.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
            if base is not None and base.type == kind:
                return base
    families[name] = Family(name)
    return families[name]


def _comment(rest: str, line: int, families: dict[str, Family], typed: set[str]) -> None:
    parts = rest.lstrip(" \t").split(None, 1)
    if not parts or parts[0] not in ("HELP", "TYPE"):
        return
    words = parts[1].lstrip(" \t") if len(parts) > 1 else ""
    name_match = _NAME.match(words)
    if name_match is None:
        raise TextFormatError(f"line {line}: invalid metric name in comment")
    name = name_match[0]
    tail = words[name_match.end() :]
    if tail and tail[0] not in " \t":
        raise TextFormatError(f"line {line}: invalid metric name in comment")
    family = families.setdefault(name, Family(name))
    if parts[0] == "HELP":
        if family.help is not None:
            raise TextFormatError(f"line {line}: second HELP line for metric name {name!r}")
        family.help = _unescape(tail[1:].lstrip(" \t") if tail else "", line, quote=False)
        return
    kind = tail.strip(" \t").lower()
    if name in typed or family.samples:
        raise TextFormatError(
            f"line {line}: second TYPE line for metric name {name!r}, "
            "or TYPE reported after samples"
        )
    if kind not in TYPES:
        raise TextFormatError(f"line {line}: unknown metric type {kind!r}")
    family.type = kind
    typed.add(name)


def _sample(text: str, line: int, families: dict[str, Family]) -> None:
    name = _NAME.match(text)
    if name is None:
        raise TextFormatError(f"line {line}: invalid metric name")
    pos = name.end()
    labels: Labels = ()
    if text.startswith("{", pos):
        labels, pos = _parse_labels(text, pos + 1, line)
    fields = text[pos:].split()
    if not fields or (pos < len(text) and text[pos] not in " \t"):
        raise TextFormatError(f"line {line}: expected a value after the metric name")
    if len(fields) > 2 or _FLOAT.fullmatch(fields[0]) is None:
        raise TextFormatError(f"line {line}: expected float as value, got {fields[0]!r}")
    value = float.fromhex(fields[0]) if "x" in fields[0].lower() else float(fields[0])
    timestamp = None
    if len(fields) == 2:
        if _TIMESTAMP.fullmatch(fields[1]) is None:
            raise TextFormatError(f"line {line}: expected integer as timestamp, got {fields[1]!r}")
        timestamp = int(fields[1])
    family = _family_of(name[0], families)
    special = "le" if family.type == "histogram" else "quantile"
    if (
        family.type in ("histogram", "summary")
        and name[0]
        in (
            family.name,
            f"{family.name}_bucket",
        )
        and not any(k == special for k, _ in labels)
    ):
        raise TextFormatError(f"line {line}: {family.type} sample without label {special!r}")
    family.samples.append(Sample(name[0], labels, value, timestamp))


def parse_text_format(text: str) -> list[Family]:
    """The families of a text exposition in the order first named; empty ones left out."""
    families: dict[str, Family] = {}
    typed: set[str] = set()
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.lstrip(" \t").rstrip("\r")
        if not line:
            continue
        if line.startswith("#"):
            _comment(line[1:], number, families, typed)
        else:
            _sample(line, number, families)
    return [family for family in families.values() if family.samples]
