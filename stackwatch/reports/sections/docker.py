"""Docker containers: state, health, restarts, CPU and memory over 24 h, problems first."""

from __future__ import annotations

from stackwatch.format import count, human_bytes
from stackwatch.reports.document import Figure, Section, Table
from stackwatch.reports.sections.figures import TOP, busiest, figure
from stackwatch.reports.sections.gate import Context, SectionSpec

TITLE = "Docker containers"


def build(ctx: Context) -> Section:
    prom = ctx.prom
    section = Section(TITLE)
    states = {
        s.labels.get("name", "?"): s.labels.get("status", "?")
        for s in prom.query("max by (name, status) (container_state_status{SEL}) == 1")
    }
    health = {
        s.labels.get("name", "?"): s.labels.get("status", "none")
        for s in prom.query("max by (name, status) (container_state_health_status{SEL}) == 1")
    }
    restarts = {
        s.labels.get("name", "?"): s.value
        for s in prom.query("sum by (name) (increase(container_restarts_total{SEL}[24h]))")
    }
    # usage, from the cgroups collector: absent when it is off (a dash in the table)
    cpu = {
        s.labels.get("name", "?"): s.value
        for s in prom.query(
            'sum by (name) (rate(container_cpu_usage_seconds_total{SEL,cpu="total"}[24h]))'
        )
    }
    memory = {
        s.labels.get("name", "?"): s.value
        for s in prom.query("max by (name) (container_memory_working_set_bytes{SEL})")
    }
    limits = {
        s.labels.get("name", "?"): s.value
        for s in prom.query("max by (name) (container_spec_memory_limit_bytes{SEL}) > 0")
    }
    if not states:
        section.lines.append("No containers.")
        return section
    table = Table(
        ["Container", "State", "Health", "Restarts 24 h", "CPU 24 h", "Memory"],
        numeric={3, 4, 5},
        wrap={0},
    )

    def problem(name: str) -> bool:
        return states[name] != "running" or health.get(name) == "unhealthy"

    bad_names = []
    for name in sorted(states, key=lambda n: (not problem(n), -restarts.get(n, 0.0), n)):
        table.add(
            [
                name,
                states[name],
                health.get(name, "none"),
                count(restarts.get(name, 0.0)),
                cores(cpu.get(name)),
                working_set(memory.get(name), limits.get(name)),
            ],
            bad=problem(name),
        )
        if problem(name):
            bad_names.append(name)
    running = sum(1 for s in states.values() if s == "running")
    unhealthy = sum(1 for h in health.values() if h == "unhealthy")
    section.lines.append(
        f"{len(states)} containers: {running} running, {len(states) - running} not running, "
        f"{unhealthy} unhealthy."
    )
    if bad_names:
        ctx.attention.append(
            f"{len(bad_names)} container(s) not running or unhealthy: {', '.join(bad_names)}"
        )
    section.tables.append(table)
    section.figures = usage_figures(ctx)
    return section


def usage_figures(ctx: Context) -> list[Figure]:
    """CPU and memory over the window of the busiest containers (none without usage data)."""
    prom = ctx.prom
    cpu = prom.range('sum by (name) (rate(container_cpu_usage_seconds_total{SEL,cpu="total"}[5m]))')
    memory = prom.range("max by (name) (container_memory_working_set_bytes{SEL})")
    out = []
    if cpu:
        lines = [(s.labels.get("name", "?"), s) for s in busiest(cpu)]
        out.append(
            figure(
                "containers-cpu-24h",
                f"CPU per container (top {TOP}), last 24 h",
                prom,
                lines,
                unit="cores",
            )
        )
    if memory:
        lines = [(s.labels.get("name", "?"), s) for s in busiest(memory)]
        out.append(
            figure(
                "containers-memory-24h",
                f"Memory per container (top {TOP}), last 24 h",
                prom,
                lines,
                unit="bytes",
            )
        )
    return out


def cores(value: float | None) -> str:
    """Average CPU over the window, in cores (``0.25 cores``); a dash without usage data."""
    return "—" if value is None else f"{value:.2f} cores"


def working_set(value: float | None, limit: float | None) -> str:
    """The working set now, and the memory limit when the container has one."""
    if value is None:
        return "—"
    return human_bytes(value) + (f" of {human_bytes(limit)}" if limit else "")


SECTION = SectionSpec(
    TITLE, build, prometheus=True, collector="docker", label="Docker", reads="the Docker engine"
)
