"""Alerts: what fires now, and what fired and resolved within the 24 h, from the alert store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from alerter.rules import load_rules
from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.format import (
    by_unit,
    common_labels,
    compact_value,
    cut,
    human_duration,
    labels_text,
    short_ids,
    stamp,
)
from stackwatch.reports.document import Cell, Cut, Section, Table
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable
from stackwatch.reports.sections.source import WINDOW

TITLE = "Alerts"
#: the widest labels cell; the whole label set is its title
LABELS_WIDTH = 60


def value_units(config: Config) -> dict[str, str]:
    """Each alert's value unit, as its rule's annotations format it."""
    rules = load_rules(config.rules.paths)
    return {rule.alert: rule.value_unit for group in rules.groups for rule in group.rules}


def labels_cell(labels: Mapping[str, str], common: Mapping[str, str]) -> Cell:
    """The labels not common to the table's rows, ids shortened, cut to fit the column."""
    own = {k: short_ids(v) for k, v in labels.items() if k != "alertname" and common.get(k) != v}
    text = labels_text(own)
    if len(text) <= LABELS_WIDTH:
        return text
    return Cut(cut(text, LABELS_WIDTH), labels_text(labels))


def shared(label_sets: Sequence[Mapping[str, str]]) -> dict[str, str]:
    return common_labels(
        [{k: v for k, v in labels.items() if k != "alertname"} for labels in label_sets]
    )


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
    units = value_units(ctx.config)
    common_firing = shared([r.labels for r in firing])
    firing_table = Table(
        ["Alert", "Labels", "Value", "Firing since", "Summary"],
        caption="Firing now" + _common_text(common_firing),
        wrap={1},
    )
    for record in sorted(firing, key=lambda r: (r.fired_at or now, r.alertname)):
        name = record.alertname + (" (silenced)" if record.silenced else "")
        firing_table.add(
            [
                name,
                labels_cell(record.labels, common_firing),
                by_unit(record.value, units.get(record.alertname, "")),
                stamp(record.fired_at),
                record.summary,
            ],
            bad=not record.silenced,
        )
    common_resolved = shared([r.labels for r in resolved])
    resolved_table = Table(
        ["Alert", "Labels", "Fired", "Resolved", "Lasted", "Peak", "Summary"],
        caption="Fired and resolved in the last 24 h" + _common_text(common_resolved),
        wrap={1},
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
                labels_cell(record.labels, common_resolved),
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


def _common_text(common: Mapping[str, str]) -> str:
    return f" (every one has {cut(labels_text(common), LABELS_WIDTH)})" if common else ""


SECTION = SectionSpec(TITLE, build)
