"""The daily summary: host, services, flow runs, containers, k3s and alerts over the last 24 h.

Each section reads its own source and is built on its own: a source that is down or not
configured turns into one line in its section, never into a failed report.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.errors import StackwatchError
from stackwatch.format import (
    human_bytes,
    human_duration,
    labels_text,
    latency,
    percent,
    short_reason,
    stamp,
)
from stackwatch.links import ui_url
from stackwatch.mail import InlineImage, Mailer
from stackwatch.prometheus import PrometheusClient, Sample, Series, TransientPrometheusError
from stackwatch.promql import PSEUDO_FS
from stackwatch.reports import charts
from stackwatch.reports.document import (
    Document,
    Figure,
    LegendEntry,
    Link,
    Section,
    Table,
    render_html,
    render_markdown,
    render_text,
)
from stackwatch.reports.prefect_api import FAILED_TYPES, PrefectApi, PrefectApiError, summarize

log = logging.getLogger(__name__)

WINDOW = 24 * 3600.0
STEP = 300.0  # 289 points over 24 h: one chart pixel each, and the last point is "now"
CPU_WARN, RAM_WARN, DISK_WARN = 0.80, 0.85, 0.90  # the threshold-alert-check defaults


@dataclass
class DailyReport:
    """The rendered report: mail subject and parts, the artifact's Markdown, inline charts."""

    subject: str
    markdown: str
    text: str
    html: str
    images: list[InlineImage] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)


# --- Prometheus sections -------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    now: float | None
    avg: float | None
    max: float | None


def stats(series: Series, end: float) -> Stats:
    values = [v for _, v in series.values if not math.isnan(v)]
    last_t, last_v = series.values[-1] if series.values else (0.0, math.nan)
    now = last_v if abs(last_t - end) < STEP / 2 and not math.isnan(last_v) else None
    if not values:
        return Stats(now, None, None)
    return Stats(now, sum(values) / len(values), max(values))


class PromSource:
    """Queries against the exporter's job, remembering whether Prometheus answered at all."""

    def __init__(self, client: PrometheusClient, job: str, now: datetime) -> None:
        self.client = client
        self.sel = f'job="{job}"'
        self.now = now
        # Prometheus works in milliseconds: an end it rounds up would drop the newest point
        self.end = round(now.timestamp(), 3)
        self.start = self.end - WINDOW

    def query(self, expr: str) -> list[Sample]:
        return self.client.query(expr.replace("SEL", self.sel), at=self.end)

    def range(self, expr: str) -> list[Series]:
        return self.client.query_range(expr.replace("SEL", self.sel), self.start, self.end, STEP)


def _hour_axis() -> list[str]:
    return ["24 h ago", "18 h ago", "12 h ago", "6 h ago", "now"]


def _figure(cid: str, title: str, prom: PromSource, lines: list[tuple[str, Series]]) -> Figure:
    drawn = [
        charts.Line(label, series.values, charts.PALETTE[i % len(charts.PALETTE)])
        for i, (label, series) in enumerate(lines)
    ]
    chart = charts.Chart(prom.start, prom.end, drawn)
    return Figure(
        cid=cid,
        title=title,
        png=chart.render(),
        scale="0 to 100 %, a grid line every 25 % and every 6 h",
        axis=_hour_axis(),
        legend=[LegendEntry(line.label, charts.color_hex(line.color)) for line in drawn],
        width=chart.width,
        height=chart.height,
    )


def one_per_device(series: list[Series]) -> list[Series]:
    """One series per filesystem: bind mounts of a device collapse to its shortest mount point."""
    best: dict[tuple[str, str], Series] = {}
    for item in series:
        key = (item.labels.get("instance", ""), item.labels.get("device", ""))
        mount = item.labels.get("mountpoint", "")
        current = best.get(key)
        if current is None or (len(mount), mount) < (
            len(current.labels.get("mountpoint", "")),
            current.labels.get("mountpoint", ""),
        ):
            best[key] = item
    return list(best.values())


def host_section(prom: PromSource, attention: list[str]) -> Section:
    section = Section("Server")
    uptime = prom.query("time() - node_boot_time_seconds{SEL}")
    uname = {s.labels.get("instance", ""): s.labels for s in prom.query("node_uname_info{SEL}")}
    cpu = prom.range('1 - avg by (instance) (rate(node_cpu_seconds_total{SEL,mode="idle"}[5m]))')
    ram = prom.range("1 - node_memory_MemAvailable_bytes{SEL} / node_memory_MemTotal_bytes{SEL}")
    disk = one_per_device(
        prom.range(
            f"1 - node_filesystem_avail_bytes{{SEL,{PSEUDO_FS}}}"
            f" / node_filesystem_size_bytes{{SEL,{PSEUDO_FS}}}"
        )
    )
    sizes = {
        (s.labels.get("instance"), s.labels.get("mountpoint")): s.value
        for s in prom.query(f"node_filesystem_size_bytes{{SEL,{PSEUDO_FS}}}")
    }
    avail = {
        (s.labels.get("instance"), s.labels.get("mountpoint")): s.value
        for s in prom.query(f"node_filesystem_avail_bytes{{SEL,{PSEUDO_FS}}}")
    }
    if not (uptime or cpu or ram or disk):
        section.unavailable = (
            f"Server: no host metrics in Prometheus for {prom.sel} (is the exporter scraped?)"
        )
        attention.append("Server: no host metrics in Prometheus")
        return section
    instances = sorted({s.labels.get("instance", "") for s in [*cpu, *ram, *disk]})
    several = len(instances) > 1

    def name(labels: dict[str, str] | object, what: str) -> str:
        instance = labels.get("instance", "") if isinstance(labels, dict) else ""
        return f"{instance} {what}" if several else what

    for sample in uptime:
        host = uname.get(sample.labels.get("instance", ""), {}).get("nodename")
        who = host or sample.labels.get("instance", "server")
        section.lines.append(f"{who}: up {human_duration(sample.value)}")
    table = Table(
        ["", "Now", "24 h average", "24 h maximum", "Size", "Free"], numeric={1, 2, 3, 4, 5}
    )
    for label, series_list, warn in (("CPU", cpu, CPU_WARN), ("RAM", ram, RAM_WARN)):
        for series in series_list:
            s = stats(series, prom.end)
            high = s.now is not None and s.now >= warn
            title = name(dict(series.labels), label)
            table.add([title, percent(s.now), percent(s.avg), percent(s.max), "", ""], bad=high)
            if high:
                attention.append(f"{title} at {percent(s.now)}")
    for series in sorted(
        disk, key=lambda x: (x.labels.get("instance", ""), x.labels.get("mountpoint", ""))
    ):
        s = stats(series, prom.end)
        key = (series.labels.get("instance"), series.labels.get("mountpoint"))
        mount = series.labels.get("mountpoint", "?")
        title = name(dict(series.labels), f"Disk {mount}")
        high = s.now is not None and s.now >= DISK_WARN
        table.add(
            [
                title,
                percent(s.now),
                percent(s.avg),
                percent(s.max),
                human_bytes(sizes.get(key)),
                human_bytes(avail.get(key)),
            ],
            bad=high,
        )
        if high:
            attention.append(f"{title} at {percent(s.now)}")
    section.tables.append(table)

    def lines_of(
        series_list: list[Series], what: Callable[[Series], str]
    ) -> list[tuple[str, Series]]:
        return [(what(s), s) for s in series_list]

    section.figures = [
        _figure(
            "cpu-24h",
            "CPU use, last 24 h",
            prom,
            lines_of(cpu, lambda s: name(dict(s.labels), "CPU")),
        ),
        _figure(
            "ram-24h",
            "RAM use, last 24 h",
            prom,
            lines_of(ram, lambda s: name(dict(s.labels), "RAM")),
        ),
        _figure(
            "disk-24h",
            "Disk use per filesystem, last 24 h",
            prom,
            lines_of(disk, lambda s: name(dict(s.labels), s.labels.get("mountpoint", "?"))),
        ),
    ]
    return section


def services_section(prom: PromSource, config: Config, attention: list[str]) -> Section:
    section = Section("Services")
    up = prom.query("probe_success{SEL}")
    if not up:
        if config.services:
            section.unavailable = "Services: no probe results in Prometheus yet"
            attention.append(section.unavailable)
        else:
            section.unavailable = "Services: none configured"
        return section
    availability = {
        s.labels.get("service"): s.value
        for s in prom.query("avg_over_time(probe_success{SEL}[24h])")
    }
    now_latency = {
        s.labels.get("service"): s.value for s in prom.query("probe_duration_seconds{SEL}")
    }
    avg_latency = {
        s.labels.get("service"): s.value
        for s in prom.query("avg_over_time(probe_duration_seconds{SEL}[24h])")
    }
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
        attention.append(f"{len(down)} service(s) DOWN: {', '.join(down)}")
    section.tables.append(table)
    return section


def _collector_failing(prom: PromSource, name: str) -> bool:
    samples = prom.query(f'stackwatch_scrape_collector_success{{SEL,collector="{name}"}}')
    return any(s.value == 0 for s in samples)


def docker_section(prom: PromSource, config: Config, attention: list[str]) -> Section:
    section = Section("Docker containers")
    if not config.collector_enabled("docker"):
        section.unavailable = "Docker: not configured"
        return section
    if _collector_failing(prom, "docker"):
        section.unavailable = "Docker: the exporter cannot read the Docker engine (see its log)"
        attention.append(section.unavailable)
        return section
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
        count = restarts.get(name, 0.0)
        table.add(
            [
                name,
                states[name],
                health.get(name, "none"),
                str(round(count)) if not math.isnan(count) else "—",
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
        attention.append(
            f"{len(bad_names)} container(s) not running or unhealthy: {', '.join(bad_names)}"
        )
    section.tables.append(table)
    return section


PHASES = ("Running", "Pending", "Succeeded", "Failed", "Unknown")


def kubernetes_section(prom: PromSource, config: Config, attention: list[str]) -> Section:
    section = Section("k3s")
    if not config.collector_enabled("kubernetes"):
        section.unavailable = "k3s: not configured"
        return section
    if _collector_failing(prom, "kubernetes"):
        section.unavailable = "k3s: the exporter cannot read the Kubernetes API (see its log)"
        attention.append(section.unavailable)
        return section
    nodes = prom.query(
        'max by (node, status) (kube_node_status_condition{SEL,condition="Ready"}) == 1'
    )
    phases = prom.query("sum by (namespace, phase) (kube_pod_status_phase{SEL})")
    not_ready = prom.query(
        'max by (namespace, pod) (kube_pod_status_ready{SEL,condition="false"}) == 1'
        " unless on (namespace, pod)"
        ' max by (namespace, pod) (kube_pod_status_phase{SEL,phase="Succeeded"}) == 1'
    )
    waiting = prom.query(
        "max by (namespace, pod, reason) (kube_pod_container_status_waiting_reason{SEL}) == 1"
    )
    desired = {
        (s.labels.get("namespace"), s.labels.get("deployment")): s.value
        for s in prom.query("max by (namespace, deployment) (kube_deployment_spec_replicas{SEL})")
    }
    available = {
        (s.labels.get("namespace"), s.labels.get("deployment")): s.value
        for s in prom.query(
            "max by (namespace, deployment) (kube_deployment_status_replicas_available{SEL})"
        )
    }
    if not (nodes or phases or desired):
        section.unavailable = "k3s: no cluster metrics in Prometheus yet"
        return section

    node_table = Table(["Node", "Ready"], caption="Nodes")
    bad_nodes = []
    for sample in sorted(nodes, key=lambda s: s.labels.get("node", "")):
        ready = sample.labels.get("status") == "true"
        node_table.add(
            [sample.labels.get("node", "?"), sample.labels.get("status", "?")], bad=not ready
        )
        if not ready:
            bad_nodes.append(sample.labels.get("node", "?"))
    by_ns: dict[str, dict[str, float]] = defaultdict(dict)
    for sample in phases:
        by_ns[sample.labels.get("namespace", "?")][sample.labels.get("phase", "?")] = sample.value
    pod_table = Table(
        ["Namespace", *PHASES],
        caption="Pods by namespace and phase",
        numeric=set(range(1, len(PHASES) + 1)),
    )
    for namespace in sorted(by_ns):
        counts = by_ns[namespace]
        pod_table.add(
            [namespace, *(str(round(counts.get(p, 0))) for p in PHASES)],
            bad=counts.get("Failed", 0) > 0 or counts.get("Unknown", 0) > 0,
        )
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sample in waiting:
        key = (sample.labels.get("namespace", "?"), sample.labels.get("pod", "?"))
        reasons[key].append(sample.labels.get("reason", "?"))
    pending_table = Table(["Namespace", "Pod", "Waiting reason"], caption="Pods not ready")
    for sample in sorted(
        not_ready, key=lambda s: (s.labels.get("namespace", ""), s.labels.get("pod", ""))
    ):
        key = (sample.labels.get("namespace", "?"), sample.labels.get("pod", "?"))
        pending_table.add(
            [key[0], key[1], ", ".join(sorted(reasons.get(key, []))) or "—"], bad=True
        )
    short_table = Table(
        ["Namespace", "Deployment", "Available", "Desired"],
        caption="Deployments short of replicas",
        numeric={2, 3},
    )
    for dkey in sorted(desired, key=lambda k: (k[0] or "", k[1] or "")):
        have = available.get(dkey, 0.0)
        if have < desired[dkey]:
            short_table.add(
                [dkey[0] or "?", dkey[1] or "?", str(round(have)), str(round(desired[dkey]))],
                bad=True,
            )
    total_pods = sum(sum(c.values()) for c in by_ns.values())
    section.lines.append(
        f"{len(nodes)} node(s), {len(bad_nodes)} not ready; {round(total_pods)} pod(s), "
        f"{len(not_ready)} not ready; {len(short_table.rows)} deployment(s) short of replicas."
    )
    if bad_nodes:
        attention.append(f"k3s node(s) not ready: {', '.join(bad_nodes)}")
    if not_ready:
        attention.append(f"{len(not_ready)} k3s pod(s) not ready")
    if short_table.rows:
        attention.append(f"{len(short_table.rows)} k3s deployment(s) short of replicas")
    section.tables = [node_table, pod_table]
    if pending_table.rows:
        section.tables.append(pending_table)
    if short_table.rows:
        section.tables.append(short_table)
    return section


# --- other sources -------------------------------------------------------------------------


def prefect_section(config: Config, now: datetime, attention: list[str]) -> Section:
    section = Section("Prefect flow runs, last 24 h")
    api = PrefectApi.from_config(config)
    if api is None:
        section.unavailable = "Prefect: not configured (set prefect.api_url or PREFECT_API_URL)"
        return section
    try:
        runs = api.flow_runs(now - timedelta(seconds=WINDOW), now, ui_url(config, api.url))
    except PrefectApiError as exc:
        section.unavailable = f"Prefect API unreachable at {api.url}: {short_reason(exc)}"
        attention.append("Prefect API unreachable")
        return section
    finally:
        api.close()
    summary = summarize(runs)
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
    failed = [r for r in runs if r.state_type in FAILED_TYPES]
    total = sum(s.total for s in summary)
    completed = sum(s.completed for s in summary)
    section.lines.append(f"{total} run(s): {completed} completed, {len(failed)} failed or crashed.")
    if failed:
        attention.append(f"{len(failed)} flow run(s) failed or crashed")
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


def alerts_section(config: Config, now: datetime, attention: list[str]) -> Section:
    section = Section("Alerts")
    path = config.state.path
    if not path.exists():
        section.unavailable = f"Alerts: no alert database at {path} yet"
        return section
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
        value = "—" if record.value is None else f"{record.value:g}"
        firing_table.add(
            [name, labels_text(record.labels), value, stamp(record.fired_at), record.summary],
            bad=not record.silenced,
        )
    resolved_table = Table(
        ["Alert", "Labels", "Fired", "Resolved", "Lasted", "Summary"],
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
                record.alertname,
                labels_text(record.labels),
                stamp(record.fired_at),
                stamp(record.resolved_at),
                human_duration(lasted),
                record.summary,
            ]
        )
    section.lines.append(f"{len(firing)} firing now; {len(resolved)} fired and resolved in 24 h.")
    if firing:
        attention.append(
            f"{len(firing)} alert(s) firing: {', '.join(sorted({r.alertname for r in firing}))}"
        )
        section.tables.append(firing_table)
    if resolved:
        section.tables.append(resolved_table)
    return section


# --- assembly ------------------------------------------------------------------------------


def _guard(title: str, build: Callable[[], Section], attention: list[str]) -> Section:
    try:
        return build()
    except Exception as exc:  # one broken section never sinks the whole report
        log.exception("report section %s failed", title)
        attention.append(f"{title}: could not be built")
        return Section(title, unavailable=f"{title}: could not be built: {short_reason(exc)}")


def _need(prom: PromSource | None) -> PromSource:
    if prom is None:
        raise AssertionError("Prometheus sections are skipped when there is no client")
    return prom


def build_document(config: Config, now: datetime) -> Document:
    attention: list[str] = []
    day = now.astimezone(UTC).strftime("%Y-%m-%d")
    doc = Document(
        title=f"Daily summary {day}",
        subtitle=f"Last 24 h up to {stamp(now)}",
        footer=f"stackwatch daily summary report, generated {stamp(now)}.",
    )
    prom_titles = ("Server", "Services", "Docker containers", "k3s")
    prom_error: str | None = None
    client: PrometheusClient | None = None
    try:
        client = PrometheusClient(config.prometheus)
        client.query("vector(1)")
    except TransientPrometheusError as exc:
        prom_error = f"Prometheus unreachable at {config.prometheus.url}: {short_reason(exc)}"
    except StackwatchError as exc:  # a query error, or a credential that cannot be read
        prom_error = f"Prometheus error: {short_reason(exc)}"
    if prom_error is not None:
        attention.append(prom_error)
    prom = PromSource(client, config.prometheus.job, now) if client is not None else None
    builders: list[tuple[str, Callable[[], Section]]] = [
        ("Server", lambda: host_section(_need(prom), attention)),
        ("Services", lambda: services_section(_need(prom), config, attention)),
        ("Prefect flow runs, last 24 h", lambda: prefect_section(config, now, attention)),
        ("Docker containers", lambda: docker_section(_need(prom), config, attention)),
        ("k3s", lambda: kubernetes_section(_need(prom), config, attention)),
        ("Alerts", lambda: alerts_section(config, now, attention)),
    ]
    try:
        for title, build in builders:
            if prom_error is not None and title in prom_titles:
                unavailable = prom_error
                if title == "k3s" and not config.collector_enabled("kubernetes"):
                    unavailable = "k3s: not configured"
                if title == "Docker containers" and not config.collector_enabled("docker"):
                    unavailable = "Docker: not configured"
                doc.sections.append(Section(title, unavailable=unavailable))
            else:
                doc.sections.append(_guard(title, build, attention))
    finally:
        if client is not None:
            client.close()
    doc.attention = attention
    return doc


def build_daily_report(config: Config, *, now: datetime | None = None) -> DailyReport:
    """Gather every section and render the mail and the artifact; never raises for a source."""
    now = now or datetime.now(tz=UTC)
    doc = build_document(config, now)
    day = now.astimezone(UTC).strftime("%Y-%m-%d")
    status = f"{len(doc.attention)} need(s) attention" if doc.attention else "all OK"
    return DailyReport(
        subject=f"[stackwatch] Daily summary {day}: {status}",
        markdown=render_markdown(doc),
        text=render_text(doc),
        html=render_html(doc),
        images=doc.images,
        attention=list(doc.attention),
    )


def send_daily_report(config: Config, report: DailyReport) -> None:
    """Mail the report (SMTP, or the outbox folder when no SMTP host is set)."""
    mailer = Mailer(config.smtp)
    mailer.send(mailer.compose(report.subject, report.text, report.html, images=report.images))
