"""The one gate every section passes: not configured, source unavailable, collector failing.

A section that cannot be shown is one line saying why, never a failed report; the gate decides
that in one place, and adds to "needs attention" what someone should look at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from stackwatch.config import Config
from stackwatch.format import short_reason
from stackwatch.reports.document import Section
from stackwatch.reports.flow_runs import FlowRunHistory
from stackwatch.reports.sections.source import PromSource

log = logging.getLogger(__name__)


class Unavailable(Exception):  # noqa: N818 - a section's outcome, not an error
    """Raised by a section (or the gate) whose source cannot be shown: the line to show instead."""

    def __init__(self, line: str, *, attention: str | None = None) -> None:
        super().__init__(line)
        self.line = line
        self.attention = attention


@dataclass
class Context:
    """What every section reads: the config, the moment, the sources, and the attention list."""

    config: Config
    now: datetime
    prometheus: PromSource | str  # the source, or why it cannot be read
    flow_runs: FlowRunHistory | None  # None: Prefect is not configured
    attention: list[str] = field(default_factory=list)

    @property
    def prom(self) -> PromSource:
        if isinstance(self.prometheus, str):  # the gate keeps such sections from building
            raise Unavailable(self.prometheus)
        return self.prometheus


@dataclass(frozen=True)
class SectionSpec:
    """A section: its title, its builder and the sources the gate checks before building it."""

    title: str
    build: Callable[[Context], Section]
    prometheus: bool = False  # reads Prometheus
    collector: str | None = None  # the exporter collector it shows (its config switch too)
    label: str = ""  # how its one-line messages name it ("Docker")
    reads: str = ""  # what that collector reads ("the Docker engine")


def collector_failing(prom: PromSource, name: str) -> bool:
    samples = prom.query(f'stackwatch_scrape_collector_success{{SEL,collector="{name}"}}')
    return any(s.value == 0 for s in samples)


def _check(spec: SectionSpec, ctx: Context) -> None:
    if spec.collector and not ctx.config.collector_enabled(spec.collector):
        raise Unavailable(f"{spec.label}: not configured")
    if spec.prometheus:
        prom = ctx.prom  # Prometheus down: its one line, already at the top of the report
        if spec.collector and collector_failing(prom, spec.collector):
            line = f"{spec.label}: the exporter cannot read {spec.reads} (see its log)"
            raise Unavailable(line, attention=line)


def gate(spec: SectionSpec, ctx: Context) -> Section:
    """The section, or its one line: not configured, unavailable, failing, or broken."""
    try:
        _check(spec, ctx)
        return spec.build(ctx)
    except Unavailable as gap:
        if gap.attention:
            ctx.attention.append(gap.attention)
        return Section(spec.title, unavailable=gap.line)
    except Exception as exc:  # one broken section never sinks the whole report
        log.exception("report section %s failed", spec.title)
        ctx.attention.append(f"{spec.title}: could not be built")
        return Section(
            spec.title, unavailable=f"{spec.title}: could not be built: {short_reason(exc)}"
        )
