"""The one way HTML mail is rendered: a Jinja2 environment over a shared layout and stylesheet.

The alert mail, the reports and the flow-failure notice extend ``mail/layout.html.j2`` and take
their inline styles from ``CSS`` (Gmail drops ``<style>`` blocks, so every style is inline).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES = Path(__file__).parent / "templates"
LAYOUT = "mail/layout.html.j2"

FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;"
MONO = "font-family:Menlo,Consolas,'DejaVu Sans Mono',monospace;"
# long words (ids, URLs, paths) break rather than push the page wider than the screen
WRAP = "word-break:break-word;overflow-wrap:anywhere;"
H2 = "font-size:16px;margin:8px 0 6px 0;padding-bottom:4px;border-bottom:2px solid #e5e7eb;"

# The stylesheet, one inline style per role.
CSS = MappingProxyType(
    {
        "font": FONT,
        "body": f"margin:0;padding:0;background:#f3f4f6;{FONT}color:#111827;",
        "page": "background:#f3f4f6;",
        # fixed layout: content (a chart, a wide table) never widens the card past the screen
        "card": "width:100%;max-width:640px;table-layout:fixed;background:#ffffff;"
        "border:1px solid #e5e7eb;",
        "banner": f"padding:16px 20px;background:#1f2937;color:#ffffff;{FONT}",
        "title": "font-size:20px;font-weight:bold;",
        "subtitle": "font-size:13px;color:#d1d5db;margin-top:4px;",
        "block": f"padding:8px 20px 12px 20px;{FONT}",
        "h2": f"{H2}color:#111827;",
        "h2_firing": f"{H2}color:#991b1b;",
        "h2_resolved": f"{H2}color:#14532d;",
        "caption": "font-size:13px;font-weight:bold;margin:10px 0 4px 0;",
        "p": "margin:4px 0;font-size:13px;",
        "pre": f"margin:4px 0;font-size:12px;background:#f9fafb;color:#111827;padding:6px 8px;"
        f"white-space:pre-wrap;border:1px solid #e5e7eb;{MONO}{WRAP}",
        "code": f"{MONO}font-size:12px;{WRAP}",
        "wrap": WRAP,
        "badge_firing": "display:inline-block;padding:1px 6px;margin-right:6px;font-size:11px;"
        "font-weight:bold;color:#ffffff;background:#b91c1c;border-radius:3px;",
        "badge_resolved": "display:inline-block;padding:1px 6px;margin-right:6px;font-size:11px;"
        "font-weight:bold;color:#ffffff;background:#15803d;border-radius:3px;",
        "badge_failed": "display:inline-block;padding:1px 6px;margin-right:6px;font-size:11px;"
        "font-weight:bold;color:#ffffff;background:#b91c1c;border-radius:3px;",
        "common": "margin:8px 0 4px 0;font-size:13px;color:#374151;background:#f9fafb;"
        "padding:6px 8px;border:1px solid #e5e7eb;",
        "table": "border-collapse:collapse;width:100%;margin:4px 0 8px 0;",
        # a cell keeps its words whole (a narrow screen wraps between them); a column of
        # long tokens (labels, ids) breaks anywhere (wrap_cell)
        "cell": "padding:4px 8px;border-bottom:1px solid #e5e7eb;font-size:13px;"
        "vertical-align:top;overflow-wrap:break-word;",
        "wrap_cell": WRAP,
        "scroll": "overflow-x:auto;max-width:100%;",
        "th": "background:#f9fafb;font-weight:bold;color:#374151;",
        "bad_row": "background:#fef2f2;",
        "bad_cell": "color:#991b1b;font-weight:bold;",
        # a label name can be as long as a Compose label's: it breaks too, rather than leave
        # its value a column one letter wide
        "key": f"color:#6b7280;padding-right:12px;vertical-align:top;{WRAP}",
        "link": "color:#1d4ed8;",
        "muted": "color:#6b7280;",
        "alarm": "background:#fef2f2;border-left:4px solid #dc2626;padding:8px 12px;"
        "font-size:14px;",
        "alarm_title": "font-weight:bold;color:#991b1b;margin-bottom:4px;",
        "alarm_item": "color:#7f1d1d;",
        "ok": "background:#f0fdf4;border-left:4px solid #16a34a;padding:8px 12px;"
        "font-size:14px;color:#14532d;",
        "firing": "border-left:4px solid #dc2626;background:#fafafa;margin:0 0 14px 0;",
        "resolved": "border-left:4px solid #16a34a;background:#fafafa;margin:0 0 14px 0;",
        "gap": "margin:4px 0;font-size:13px;color:#92400e;background:#fffbeb;padding:6px 8px;",
        "warning": "margin:4px 0;font-size:13px;color:#991b1b;background:#fef2f2;"
        "padding:6px 8px;font-weight:bold;",
        "footer": f"padding:12px 20px;font-size:11px;color:#6b7280;border-top:1px solid #e5e7eb;"
        f"{FONT}",
    }
)


def is_html(name: str | None) -> bool:
    return bool(name and name.endswith((".html", ".html.j2")))


def environment(*folders: Path) -> SandboxedEnvironment:
    """Templates from ``folders`` (the first that has a name wins), then the shared layout.

    HTML templates are autoescaped, text ones not; an undefined name is an error. Sandboxed,
    because a config folder may supply its own alert templates.
    """
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(str(folder)) for folder in (*folders, TEMPLATES)]),
        autoescape=is_html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["css"] = CSS
    return env
