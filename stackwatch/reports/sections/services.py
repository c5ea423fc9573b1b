"""Services: each probed service up or down, its availability and latency over 24 h."""

from __future__ import annotations

from stackwatch.format import latency, percent
from stackwatch.reports.document import Section, Table
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable

TITLE = "Services"


def build(ctx: Context) -> Section:
    prom = ctx.prom
    section = Section(TITLE)
    up = prom.query("probe_success{SEL}")
    if not up:
        if ctx.config.services:
            line = "Services: no probe results in Prometheus yet"
            raise Unavailable(line, attention=line)
        raise Unavailable("Services: none configured")

    def by_service(expr: str) -> dict[str | None, float]:
        return {s.labels.get("service"): s.value for s in prom.query(expr)}

    availability = by_service("avg_over_time(probe_success{SEL}[24h])")
    now_latency = by_service("probe_duration_seconds{SEL}")
    avg_latency = by_service("avg_over_time(probe_duration_seconds{SEL}[24h])")
    table = Table(
        ["Service", "Status", "Availability 24 h", "Latency now", "Latency 24 h avg"],
        numeric={2, 3, 4},
    )
    down = []
    for sample in sorted(up, key=lambda s: (s.value == 1, s.labels.get("service", ""))):
        service = sample.labels.get("service", "?")
        is_up = sample.value == 1
        if not is_up:
            down.append(service)
        table.add(
            [
                service,
                "UP" if is_up else "DOWN",
                percent(availability.get(service)),
                latency(now_latency.get(service)),
                latency(avg_latency.get(service)),
            ],
            bad=not is_up,
        )
    section.lines.append(f"{len(up) - len(down)} of {len(up)} services up.")
    if down:
        ctx.attention.append(f"{len(down)} service(s) DOWN: {', '.join(down)}")
    section.tables.append(table)
    return section


SECTION = SectionSpec(TITLE, build, prometheus=True)
