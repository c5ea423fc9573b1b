"""Docker containers: state, health and restarts over 24 h, problems first."""

from __future__ import annotations

from stackwatch.format import count
from stackwatch.reports.document import Section, Table
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
    if not states:
        section.lines.append("No containers.")
        return section
    table = Table(["Container", "State", "Health", "Restarts 24 h"], numeric={3})

    def problem(name: str) -> bool:
        return states[name] != "running" or health.get(name) == "unhealthy"

    bad_names = []
    for name in sorted(states, key=lambda n: (not problem(n), -restarts.get(n, 0.0), n)):
        table.add(
            [name, states[name], health.get(name, "none"), count(restarts.get(name, 0.0))],
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
    return section


SECTION = SectionSpec(
    TITLE, build, prometheus=True, collector="docker", label="Docker", reads="the Docker engine"
)
