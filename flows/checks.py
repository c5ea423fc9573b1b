"""The five check flows: each evaluates its rule group in Prometheus and publishes what it saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from alerter.check import flow_groups, run_check
from alerter.check_result import CheckResult
from flows.catalogued import catalogued_flow
from flows.retry import network_task
from stackwatch import promql
from stackwatch.config import Config, load_config
from stackwatch.format import by_unit, compact_value, label_matchers, percent, stamp
from stackwatch.prometheus import PrometheusClient, TransientPrometheusError


@dataclass(frozen=True)
class Reading:
    """A value the system health check reads from Prometheus for its log and artifact."""

    name: str
    expr: str
    unit: str = ""  # "ratio" is shown as a percentage
    by: str = ""  # the label that tells the series apart, if there are several


SYSTEM_READINGS: tuple[Reading, ...] = (
    Reading("CPU used", promql.cpu_used(by=""), "ratio"),
    Reading("RAM used", promql.ram_used(), "ratio"),
    Reading("Disk used", promql.disk_used(), "ratio", by="mountpoint"),
    Reading("Load (1m)", "node_load1"),
    Reading("Containers", "sum by (state) (stackwatch_docker_containers)", by="state"),
    Reading("Processes", "node_processes_pids"),
    Reading("Processes running", "node_procs_running"),
    Reading("Processes blocked", "node_procs_blocked"),
    Reading("Threads", "node_processes_threads"),
)


@dataclass(frozen=True)
class ReadingValue:
    reading: Reading
    series: str
    value: float | None

    def formatted(self) -> str:
        if self.value is None:
            return "no data"
        if self.reading.unit == "ratio":
            return percent(self.value)
        return compact_value(self.value, missing="no data")


def read_readings(
    client: PrometheusClient, readings: tuple[Reading, ...] = SYSTEM_READINGS
) -> list[ReadingValue]:
    """One value per reading and series; a reading with no series is one "no data" value."""
    values: list[ReadingValue] = []
    for reading in readings:
        samples = client.query(reading.expr)
        if not samples:
            values.append(ReadingValue(reading, "", None))
        for sample in sorted(samples, key=lambda s: s.labels.get(reading.by, "")):
            series = sample.labels.get(reading.by, "") if reading.by else ""
            values.append(ReadingValue(reading, series, sample.value))
    return values


@network_task("read-system-values", TransientPrometheusError)
def read_system_values(config: Config) -> list[ReadingValue]:
    """Query CPU, RAM, disk, container and process counts; log each value."""
    logger = get_run_logger()
    with PrometheusClient(config.prometheus) as client:
        values = read_readings(client)
    for item in values:
        where = f" {item.series}" if item.series else ""
        logger.info("%s%s: %s", item.reading.name, where, item.formatted())
    return values


@network_task("evaluate-rules", TransientPrometheusError)
def evaluate_rules(config: Config, group: str, notify: bool = True) -> CheckResult:
    """Evaluate one rule group; with ``notify`` off nothing is mailed (log-only checks)."""
    logger = get_run_logger()
    result = run_check(config, group, notify=notify)
    logger.info("evaluated rule group %s: %d alert(s)", group, len(result.alerts))
    for alert in result.alerts:
        logger.info(
            "%s %s {%s} value=%s since %s: %s",
            alert.state,
            alert.alertname,
            label_matchers(dict(alert.labels)),
            by_unit(alert.value, alert.unit),
            stamp(alert.active_since),
            alert.summary,
        )
    for subject in result.sent:
        logger.info("mailed: %s", subject)
    for subject in result.would_send:
        logger.info("not mailed (this check only logs): %s", subject)
    if result.queued:
        logger.warning("%d notification(s) queued for the next run", result.queued)
    if result.dead:
        logger.warning(
            "%d mail(s) refused for good by the SMTP server: see stackwatch alerts list",
            result.dead,
        )
    if result.blind:
        logger.warning("monitoring is blind: Prometheus or the exporter target is down")
    for error in result.errors:
        logger.warning("error: %s", error)
    return result


def summary(result: CheckResult) -> dict[str, Any]:
    """The flow's return value: small and JSON-friendly."""
    states: dict[str, int] = {}
    for alert in result.alerts:
        states[str(alert.state)] = states.get(str(alert.state), 0) + 1
    return {
        "group": result.group,
        "alerts": states,
        "sent": list(result.sent),
        "queued": result.queued,
        "dead": result.dead,
        "blind": result.blind,
        "errors": list(result.errors),
    }


def readings_markdown(values: list[ReadingValue]) -> str:
    lines = ["| Reading | Series | Value |", "|---|---|---|"]
    lines += [f"| {v.reading.name} | {v.series or '-'} | {v.formatted()} |" for v in values]
    return "\n".join(lines)


def evaluate_groups(config: Config, flow: str, notify: bool = True) -> list[CheckResult]:
    """Evaluate every group ``flow`` evaluates: its own, then those assigned to it."""
    return [evaluate_rules(config, group, notify) for group in flow_groups(config, flow)]


def results_markdown(results: list[CheckResult]) -> str:
    """Each evaluated group's alerts and mail, under the group's name."""
    return "\n\n".join(result.to_markdown() for result in results)


def flow_summary(results: list[CheckResult]) -> dict[str, Any]:
    """The flow's own group's summary, with the other groups it evaluated under ``groups``."""
    first, *more = results
    return {**summary(first), "groups": [summary(r) for r in more]}


def check_group(group: str, config_path: str | None) -> dict[str, Any]:
    """Evaluate a flow's groups with notifications on and publish their alerts as an artifact."""
    config = load_config(config_path)
    results = evaluate_groups(config, group)
    create_markdown_artifact(
        key=group,
        markdown=f"# {group}\n\n{results_markdown(results)}",
        description=f"alerts of the rule groups {group} evaluates",
    )
    return flow_summary(results)


@catalogued_flow()
def system_health_check(config_path: str | None = None) -> dict[str, Any]:
    """CPU, RAM, disk, container and process counts; evaluates its rules and only logs."""
    config = load_config(config_path)
    values = read_system_values(config)
    results = evaluate_groups(config, "system-health-check", notify=False)
    create_markdown_artifact(
        key="system-health-check",
        markdown=(
            f"# system-health-check\n\n{readings_markdown(values)}\n\n"
            f"{results_markdown(results)}\nThis check only logs: it sends no mail.\n"
        ),
        description="system values and the alerts of the rule groups system-health-check evaluates",
    )
    return {
        **flow_summary(results),
        "values": {f"{v.reading.name} {v.series}".strip(): v.value for v in values},
    }


@catalogued_flow()
def services_health_check(config_path: str | None = None) -> dict[str, Any]:
    """Evaluate the services group (probe results); mail alerts."""
    return check_group("services-health-check", config_path)


@catalogued_flow()
def threshold_alert_check(config_path: str | None = None) -> dict[str, Any]:
    """Host thresholds: CPU, RAM, disks, network, disk I/O, clock, fds, OOM, PSI; mail alerts."""
    return check_group("threshold-alert-check", config_path)


@catalogued_flow()
def docker_restart_monitor(config_path: str | None = None) -> dict[str, Any]:
    """Containers restarting in a loop or unhealthy; mail alerts."""
    return check_group("docker-restart-monitor", config_path)


@catalogued_flow()
def k8s_health_check(config_path: str | None = None) -> dict[str, Any]:
    """k3s nodes, pods and workloads (Jobs, StatefulSets, DaemonSets, PVCs, HPAs); mail alerts."""
    return check_group("k8s-health-check", config_path)
