"""Check freshness: when each check group was last evaluated, stale ones flagged at the top."""

from __future__ import annotations

from alerter.store import AlertStore
from alerter.watchdog_run import watched_groups
from stackwatch.format import format_duration, human_duration, moment_text
from stackwatch.reports.document import Section, Table
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable

TITLE = "Checks"


def build(ctx: Context) -> Section:
    section = Section(TITLE)
    path = ctx.config.state.path
    if not path.exists():
        raise Unavailable(f"Checks: no alert database at {path} yet")
    now = ctx.now.timestamp()
    multiple = ctx.config.watchdog.stale_after
    with AlertStore(path) as store:
        watched = watched_groups(ctx.config, store)
        outcomes = {e.group: e for e in store.evaluations()}
    table = Table(["Group", "Last evaluated", "Ago", "Every", "Result"])
    stale = []
    for w in watched:
        late = w.last is None or now - w.last > multiple * w.interval
        if late:
            stale.append(w.group)
        outcome = outcomes.get(w.group)
        result = "—" if outcome is None else "ok" if outcome.success else "failed"
        ago = human_duration(now - w.last) if w.last is not None else "never"
        table.add(
            [w.group, moment_text(w.last) or "never", ago, format_duration(w.interval), result],
            bad=late,
        )
    section.tables.append(table)
    if stale:
        line = (
            f"checks stale (not evaluated for over {multiple:g} times their interval): "
            + ", ".join(stale)
        )
        ctx.attention.append(line)
        section.lines.append(line[0].upper() + line[1:] + ".")
    else:
        section.lines.append("Every check group was evaluated on schedule.")
    return section


SECTION = SectionSpec(TITLE, build)
