"""Alerts: what fires now, and what fired and resolved within the 24 h, from the alert store."""

from __future__ import annotations

from datetime import timedelta

from alerter.store import AlertStore
from stackwatch.format import compact_value, human_duration, labels_text, stamp
from stackwatch.reports.document import Section, Table
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable
from stackwatch.reports.sections.source import WINDOW

TITLE = "Alerts"


def build(ctx: Context) -> Section:
    section = Section(TITLE)
    path = ctx.config.state.path
    if not path.exists():
        raise Unavailable(f"Alerts: no alert database at {path} yet")
    now = ctx.now
    since = now - timedelta(seconds=WINDOW)
    with AlertStore(path) as store:
        firing = store.firing()
        history = store.history(since)
    resolved = [
        r
        for r in history
        if r.state == "resolved" and r.resolved_at is not None and since <= r.resolved_at <= now
    ]
    firing_table = Table(
        ["Alert", "Labels", "Value", "Firing since", "Summary"], caption="Firing now"
    )
    for record in sorted(firing, key=lambda r: (r.fired_at or now, r.alertname)):
        name = record.alertname + (" (silenced)" if record.silenced else "")
        firing_table.add(
            [
                name,
                labels_text(record.labels),
                compact_value(record.value, missing="—"),
                stamp(record.fired_at),
                record.summary,
            ],
            bad=not record.silenced,
        )
    resolved_table = Table(
        ["Alert", "Labels", "Fired", "Resolved", "Lasted", "Peak", "Summary"],
        caption="Fired and resolved in the last 24 h",
    )
    for record in resolved:
        lasted = (
            (record.resolved_at - record.fired_at).total_seconds()
            if record.resolved_at and record.fired_at
            else None
        )
        resolved_table.add(
            [
                record.alertname + (" (between checks)" if record.between_checks else ""),
                labels_text(record.labels),
                stamp(record.fired_at),
                stamp(record.resolved_at),
                human_duration(lasted),
                compact_value(record.peak, missing="—"),
                record.summary,
            ]
        )
    between = sum(1 for r in resolved if r.between_checks)
    section.lines.append(
        f"{len(firing)} firing now; {len(resolved)} fired and resolved in 24 h"
        + (f" ({between} of them between two checks)." if between else ".")
    )
    if firing:
        ctx.attention.append(
            f"{len(firing)} alert(s) firing: {', '.join(sorted({r.alertname for r in firing}))}"
        )
        section.tables.append(firing_table)
    if resolved:
        section.tables.append(resolved_table)
    return section


SECTION = SectionSpec(TITLE, build)
