"""Prefect flow runs over 24 h: counts per flow and state, failed and crashed runs linked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackwatch.format import stamp
from stackwatch.reports.document import Link, Section, Table
from stackwatch.reports.flow_runs import FAILED_TYPES, FlowRunInfo
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable

TITLE = "Prefect flow runs, last 24 h"


@dataclass(frozen=True)
class FlowSummary:
    flow: str
    completed: int
    failed: int
    crashed: int
    other: int

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.crashed + self.other


def summarize(runs: Sequence[FlowRunInfo]) -> list[FlowSummary]:
    """Per flow: completed, failed, crashed and other (running, cancelled...) counts."""
    counts: dict[str, list[int]] = {}
    for run in runs:
        row = counts.setdefault(run.flow_name, [0, 0, 0, 0])
        index = {"COMPLETED": 0, "FAILED": 1, "CRASHED": 2}.get(run.state_type, 3)
        row[index] += 1
    return [FlowSummary(flow, *row) for flow, row in sorted(counts.items())]


def build(ctx: Context) -> Section:
    section = Section(TITLE)
    history = ctx.flow_runs
    if history is None:
        raise Unavailable("Prefect: not configured (set prefect.api_url or PREFECT_API_URL)")
    if history.error is not None:
        raise Unavailable(
            f"Prefect API unreachable at {history.api_url}: {history.error}",
            attention="Prefect API unreachable",
        )
    if history.failure is not None:
        # what the gate says of a broken section; the reader already logged the traceback
        raise Unavailable(
            f"{TITLE}: could not be built: {history.failure}",
            attention=f"{TITLE}: could not be built",
        )
    summary = summarize(history.runs)
    if not summary:
        section.lines.append("No flow runs started in the last 24 h.")
        return section
    table = Table(["Flow", "Completed", "Failed", "Crashed", "Other"], numeric={1, 2, 3, 4})
    for row in summary:
        table.add(
            [row.flow, str(row.completed), str(row.failed), str(row.crashed), str(row.other)],
            bad=row.failed + row.crashed > 0,
        )
    section.tables.append(table)
    failed = [r for r in history.runs if r.state_type in FAILED_TYPES]
    total = sum(s.total for s in summary)
    completed = sum(s.completed for s in summary)
    section.lines.append(f"{total} run(s): {completed} completed, {len(failed)} failed or crashed.")
    if failed:
        ctx.attention.append(f"{len(failed)} flow run(s) failed or crashed")
        runs_table = Table(["Flow", "Run", "State", "Started"], caption="Failed and crashed runs")
        for run in failed:
            runs_table.add(
                [
                    run.flow_name,
                    Link(run.name or run.id, run.url),
                    run.state_name,
                    stamp(run.start_time),
                ],
                bad=True,
            )
        section.tables.append(runs_table)
    return section


SECTION = SectionSpec(TITLE, build)
