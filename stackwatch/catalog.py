"""The seven flows: names, entry points, schedules, descriptions; read without importing Prefect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stackwatch.cron import shortest_interval

# A run still going when its next one is due has that one cancelled (one run at a time, below),
# and every one after it while it hangs, with no mail. So a run that takes longer than this
# share of the time between two runs is stopped and ends Failed, which is mailed.
RUN_TIMEOUT_SHARE = 0.5
# A report runs daily or weekly; each of its sources has its own timeouts far under this.
REPORT_RUN_TIMEOUT = 1800.0


@dataclass(frozen=True)
class FlowSpec:
    """One flow and the deployment that schedules it (same name for both)."""

    name: str
    entrypoint: str  # "path/to/file.py:function", relative to the project root
    cron: str  # UTC
    description: str
    mails: bool  # whether its findings and its own failures are mailed (system-health-check: no)

    @property
    def module(self) -> str:
        return self.entrypoint.split(":", 1)[0].removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":", 1)[1]

    @property
    def kind(self) -> str:
        return "check" if self.name.endswith(("-check", "-monitor")) else "report"

    @property
    def tags(self) -> list[str]:
        return ["stackwatch", self.kind]

    @property
    def interval(self) -> float:
        """Seconds between its two closest scheduled runs."""
        return shortest_interval(self.cron)

    @property
    def run_timeout(self) -> float:
        """Seconds a run on the catalogue's schedule may take before it is stopped and ends
        Failed."""
        return self.run_timeout_every(self.interval)

    def run_timeout_every(self, interval: float) -> float:
        """The run timeout when runs are ``interval`` seconds apart (a replaced schedule)."""
        timeout = interval * RUN_TIMEOUT_SHARE
        return min(timeout, REPORT_RUN_TIMEOUT) if self.kind == "report" else timeout


TIMEZONE = "UTC"
# One run per deployment at a time: a run due while one is going is cancelled.
CONCURRENCY_LIMIT = 1
COLLISION_STRATEGY = "CANCEL_NEW"
WORK_POOL = "stackwatch"  # the `process` pool of prefect.yaml's deployments

# prefect.yaml repeats these for `prefect deploy`; tests/test_prefect_yaml.py holds it to them.
FLOWS: tuple[FlowSpec, ...] = (
    FlowSpec(
        "system-health-check",
        "flows/checks.py:system_health_check",
        "*/5 * * * *",
        "CPU, RAM, disk, container and process counts from Prometheus; logs only",
        mails=False,
    ),
    FlowSpec(
        "services-health-check",
        "flows/checks.py:services_health_check",
        "*/10 * * * *",
        "HTTP probes of every configured service; mails alerts",
        mails=True,
    ),
    FlowSpec(
        "threshold-alert-check",
        "flows/checks.py:threshold_alert_check",
        "*/15 * * * *",
        "CPU > 80 %, RAM > 85 %, disk > 90 % or filling within 24 h, read-only filesystems, "
        "network errors and drops, disk I/O saturation, clock sync and skew, file descriptors, "
        "OOM kills, memory pressure; mails alerts",
        mails=True,
    ),
    FlowSpec(
        "docker-restart-monitor",
        "flows/checks.py:docker_restart_monitor",
        "*/10 * * * *",
        "containers restarting in a loop or unhealthy; mails alerts",
        mails=True,
    ),
    FlowSpec(
        "k8s-health-check",
        "flows/checks.py:k8s_health_check",
        "*/15 * * * *",
        "k3s nodes, pods, Deployments, Jobs, CronJobs, StatefulSets, DaemonSets, PVCs and HPAs; "
        "mails alerts",
        mails=True,
    ),
    FlowSpec(
        "daily-summary-report",
        "flows/report_flows.py:daily_summary_report",
        "0 6 * * *",
        "full stack health summary; mails the report",
        mails=True,
    ),
    FlowSpec(
        "weekly-cleanup-report",
        "flows/report_flows.py:weekly_cleanup_report",
        "0 2 * * 0",
        "Docker prune, old Elasticsearch indices and Loki data; mails what was freed",
        mails=True,
    ),
)

BY_NAME: dict[str, FlowSpec] = {spec.name: spec for spec in FLOWS}

#: the check flows, each evaluating the rule group of its own name
CHECK_FLOWS: tuple[str, ...] = tuple(spec.name for spec in FLOWS if spec.kind == "check")
#: the flow that evaluates a group named after no flow, unless ``rules.flows`` names another
DEFAULT_CHECK_FLOW = "threshold-alert-check"
#: ``rules.flows`` value of a group that no flow evaluates: its rules are for a Prometheus
#: that loads ``rules/`` and routes to an Alertmanager
NOT_EVALUATED = "none"
#: ``rules.flows`` entries that hold unless the configuration names the group itself: the
#: watchdog's group repeats what ``stackwatch watchdog`` mails, and cannot mail that the
#: outbox is stuck through the outbox
BUILTIN_ASSIGNMENTS: dict[str, str] = {"stackwatch-watchdog": NOT_EVALUATED}


def evaluating_flow(group: str, assigned: Mapping[str, str]) -> str:
    """The check flow that evaluates ``group``: the flow of its name, else the one
    ``assigned`` (``rules.flows``) names, else ``threshold-alert-check``; ``none`` for a group
    that no flow evaluates."""
    if group in CHECK_FLOWS:
        return group
    return assigned.get(group, DEFAULT_CHECK_FLOW)


def groups_of(flow: str, groups: Iterable[str], assigned: Mapping[str, str]) -> list[str]:
    """The groups among ``groups`` that ``flow`` evaluates: its own first, then the others in
    the order given."""
    mine = [g for g in dict.fromkeys(groups) if evaluating_flow(g, assigned) == flow]
    return sorted(mine, key=lambda g: g != flow)
