"""A report as plain data (sections of lines, tables, charts), rendered as text, Markdown, HTML.

Both reports are built as a ``Document`` once and rendered three ways, so the mail's text part,
its HTML part and the Prefect artifact always say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2

from stackwatch import htmlmail
from stackwatch.mail import InlineImage


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Cut:
    """A value too long for its column: ``text`` is shown, ``full`` is the HTML title."""

    text: str
    full: str


Cell = str | Link | Cut


def cell_text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell.text


@dataclass
class Table:
    """Rows of cells; rows whose index is in ``bad`` are highlighted as problems."""

    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    bad: set[int] = field(default_factory=set)
    caption: str = ""
    numeric: set[int] = field(default_factory=set)  # right-aligned columns
    wrap: set[int] = field(default_factory=set)  # columns of long tokens, broken anywhere

    def add(self, row: Sequence[Cell], *, bad: bool = False) -> None:
        if bad:
            self.bad.add(len(self.rows))
        self.rows.append(list(row))


@dataclass(frozen=True)
class Figure:
    """An inline chart: the PNG plus the words that say the same without the image.

    ``notes`` are its numbers as text (each series' min, avg and max, the alert threshold, since
    when there is data), shown under the image and in the text part; ``width`` and ``height``
    are its size in the HTML (the PNG has twice the pixels, for high-density screens).
    """

    cid: str
    title: str
    png: bytes
    notes: list[str]
    width: int
    height: int

    @property
    def alt(self) -> str:
        return f"{self.title}: " + "; ".join(self.notes) if self.notes else self.title


@dataclass
class Section:
    title: str
    unavailable: str | None = None
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    attention: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    footer: str = ""

    @property
    def images(self) -> list[InlineImage]:
        return [InlineImage(f.cid, f.png) for s in self.sections for f in s.figures]


# --- text ----------------------------------------------------------------------------------


def _text_table(table: Table) -> list[str]:
    rows = [[cell_text(c) for c in row] for row in table.rows]
    widths = [len(h) for h in table.headers]
    for row in rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))

    def fmt(values: Sequence[str], mark: str) -> str:
        cells = [
            value.rjust(widths[i]) if i in table.numeric else value.ljust(widths[i])
            for i, value in enumerate(values)
        ]
        return (mark + "  ".join(cells)).rstrip()

    out = [table.caption] if table.caption else []
    out.append(fmt(table.headers, "  "))
    out.append("  " + "  ".join("-" * w for w in widths))
    out.extend(fmt(row, "! " if i in table.bad else "  ") for i, row in enumerate(rows))
    links = [c for row in table.rows for c in row if isinstance(c, Link)]
    out.extend(f"  {link.text}: {link.url}" for link in links)
    return out


def render_text(doc: Document) -> str:
    out = [doc.title, "=" * len(doc.title), doc.subtitle, ""]
    if doc.attention:
        out.append("Needs attention:")
        out.extend(f"  ! {item}" for item in doc.attention)
    else:
        out.append("Nothing needs attention.")
    for section in doc.sections:
        out += ["", section.title, "-" * len(section.title)]
        if section.unavailable:
            out.append(section.unavailable)
            continue
        out.extend(f"! {w}" for w in section.warnings)
        out.extend(section.lines)
        for figure in section.figures:
            out.append(f"{figure.title} (chart in the HTML version):")
            out.extend(f"  {note}" for note in figure.notes)
        for table in section.tables:
            out.append("")
            out.extend(_text_table(table))
    if doc.footer:
        out += ["", "--", doc.footer]
    return "\n".join(out) + "\n"


# --- markdown ------------------------------------------------------------------------------


def _md_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        return f"[{_md_escape(cell.text)}]({cell.url})"
    return _md_escape(cell_text(cell))


def render_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", "", doc.subtitle, ""]
    if doc.attention:
        out.append("**Needs attention:**")
        out.append("")
        out.extend(f"- {_md_escape(item)}" for item in doc.attention)
    else:
        out.append("Nothing needs attention.")
    for section in doc.sections:
        out += ["", f"## {section.title}", ""]
        if section.unavailable:
            out.append(f"_{_md_escape(section.unavailable)}_")
            continue
        out.extend(f"- **{_md_escape(w)}**" for w in section.warnings)
        if section.warnings:
            out.append("")
        for line in section.lines:
            out += [_md_escape(line), ""]
        for figure in section.figures:
            out += [f"**{_md_escape(figure.title)}** (chart in the mail)", ""]
            out.extend(f"- {_md_escape(note)}" for note in figure.notes)
            out.append("")
        for table in section.tables:
            if table.caption:
                out += [f"**{_md_escape(table.caption)}**", ""]
            out.append("| " + " | ".join(_md_escape(h) for h in table.headers) + " |")
            out.append(
                "|"
                + "|".join(
                    "---:" if i in table.numeric else "---" for i in range(len(table.headers))
                )
                + "|"
            )
            for i, row in enumerate(table.rows):
                cells = [_md_cell(c) for c in row]
                if i in table.bad:
                    cells[0] = f"**{cells[0]}**"
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
    if doc.footer:
        out += ["", f"_{_md_escape(doc.footer)}_"]
    return "\n".join(out).rstrip() + "\n"


# --- html ----------------------------------------------------------------------------------


TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    env = htmlmail.environment(TEMPLATES)
    env.tests["link"] = lambda value: isinstance(value, Link)
    env.tests["cut"] = lambda value: isinstance(value, Cut)
    return env


def render_html(doc: Document) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(doc=doc)
