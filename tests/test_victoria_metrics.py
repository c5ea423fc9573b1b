"""Many hosts and a long-term store: three exporters, one Prometheus, a real VictoriaMetrics.

Three exporters (served in-process, each its own ``instance``) are scraped by one real
Prometheus, which loads ``rules/*.yml`` and remote-writes every sample, ``ALERTS`` included, to
a real VictoriaMetrics single node (Debian's ``victoria-metrics``) started on loopback with its
own data folder. The alerter, the daily report and every Grafana dashboard panel are pointed
at Prometheus and then at VictoriaMetrics' Prometheus-compatible API: the same alerts, the same
report sections and rows, every panel with data on both. The first exporter watches a real
dockerd, the third a local Kubernetes API server (the collector tests' fake, as no real one
runs here), so the Docker, container usage and k3s rows have data too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from alerter.check import run_check
from alerter.rules import load_rules
from stackwatch.config import Config
from stackwatch.reports.daily import build_document
from stackwatch.reports.document import Document
from stackwatch.reports.sections.prefect_runs import TITLE as PREFECT_TITLE
from tests.support.dockerd import DockerDaemon
from tests.support.http import LocalServer, fixed, self_signed_cert
from tests.support.procs import free_port, wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within
from tests.support.victoria import VictoriaMetrics, victoria_metrics
from tests.test_dashboard import (
    Panel,
    expressions,
    rows_and_panels,
    serve_exporter,
    substitute,
)
from tests.test_kubernetes_collector import FakeApiServer, write_kubeconfig

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "grafana/dashboards/stackwatch.json"
SUMMARY = "{{ $labels.service }} down on {{ $labels.instance }}"
# a per-host rule that fires within seconds: a probe failing on a host names that host
HOST_RULES = {
    "groups": [
        {
            "name": "hosts-test",
            "rules": [
                {
                    "alert": "ProbeFailingOnHost",
                    "expr": "probe_success == 0",
                    "for": "3s",
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "summary": "{{ $labels.service }} down on {{ $labels.instance }}"
                    },
                }
            ],
        }
    ]
}


@pytest.fixture
def sources(dockerd: DockerDaemon, tmp_path: Path) -> dict[str, Any]:
    """The Docker and Kubernetes settings the report needs to show those sections (it reads
    Prometheus, not them; the Kubernetes API answers from the collector tests' fake)."""
    return {"docker": {"host": dockerd.host}, "kubernetes": {"enabled": True}}


@pytest.fixture
def hosts(dockerd: DockerDaemon, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Three exporters, by role: ``docker`` (a container under a memory limit, an unhealthy
    one; a probe that fails, one over TLS), ``probe`` (another failing probe) and ``k3s``
    (a cluster, a probe that answers)."""
    tag = free_port()
    sick = {"test": ["CMD", "false"], "interval": int(0.5e9), "timeout": int(1e9), "retries": 1}
    containers = [
        dockerd.run(["sleep", "600"], name=f"vm-web-{tag}", mem_limit="64m"),
        dockerd.run(["sleep", "600"], name=f"vm-sick-{tag}", healthcheck=sick),
    ]
    cert, key, _ = self_signed_cert(tmp_path, days=10)
    exporters = []
    try:
        with (
            LocalServer(fixed(200)) as web,
            LocalServer(fixed(200), tls=(cert, key)) as secure,
            FakeApiServer() as api_server,
        ):
            down = f"http://127.0.0.1:{free_port()}/health"
            common = {"exporter": {"probe_interval": "1s"}}
            configs: dict[str, dict[str, Any]] = {
                "docker": {
                    **common,
                    "services": [
                        {"name": "web", "url": f"{web.url}/health"},
                        {"name": "billing", "url": down, "timeout": "1s"},
                        {"name": "secure", "url": f"{secure.url}/health", "verify_tls": False},
                    ],
                    "docker": {"host": dockerd.host},
                    "kubernetes": {"enabled": False},
                },
                "probe": {
                    **common,
                    "services": [{"name": "queue", "url": down, "timeout": "1s"}],
                    "docker": {"enabled": False},
                    "kubernetes": {"enabled": False},
                },
                "k3s": {
                    **common,
                    "services": [{"name": "web", "url": f"{web.url}/health"}],
                    "docker": {"enabled": False},
                    "kubernetes": {
                        "enabled": True,
                        "kubeconfig": str(write_kubeconfig(tmp_path, api_server.url)),
                        "refresh_interval": "1s",
                    },
                },
            }
            addresses = {}
            for role, config in configs.items():
                exporter, address = serve_exporter(config)
                exporters.append(exporter)
                addresses[role] = address
            yield addresses
    finally:
        for exporter in exporters:
            exporter.close()
        for container in containers:
            container.remove(force=True)


@pytest.fixture
def stores(
    hosts: dict[str, str],
    start_prometheus: Callable[..., PrometheusServer],
    tmp_path: Path,
) -> Iterator[tuple[PrometheusServer, VictoriaMetrics, list[str]]]:
    """Prometheus scraping the three hosts with the shipped rules and the per-host one,
    remote-writing to VictoriaMetrics."""
    host_rules = tmp_path / "hosts-test.yml"
    host_rules.write_text(yaml.safe_dump(HOST_RULES))
    rules = [*sorted(str(p) for p in (REPO / "rules").glob("*.yml")), str(host_rules)]
    workdir = tmp_path / "victoria"
    workdir.mkdir()
    with victoria_metrics(workdir) as victoria:
        prometheus = start_prometheus(
            list(hosts.values()), rule_files=rules, remote_write=[victoria.write_url]
        )
        yield prometheus, victoria, rules


def config_for(url: str, rules: list[str], state: Path, sources: dict[str, Any]) -> Config:
    return Config.model_validate(
        {
            "prometheus": {"url": url, "retries": 0, "timeout": "10s"},
            "rules": {"paths": rules},
            "state": {"path": str(state)},
            "smtp": {"outbox_dir": str(state.parent / f"{state.stem}-outbox")},
            **sources,
        }
    )


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """A query as Grafana runs it; an error (not just no data) fails the test."""
    response = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def empty_panels(url: str, panels: list[Panel]) -> dict[str, list[str]]:
    empty: dict[str, list[str]] = {}
    for panel in panels:
        missing = [e for e in expressions(panel) if not query(url, substitute(e))]
        if missing:
            empty[panel["title"]] = missing
    return empty


def alerts_of(
    config: Config, groups: list[str], now: datetime, values: dict[tuple[Any, ...], float]
) -> dict[str, set[Any]]:
    """Each group's alerts as (name, labels, state), evaluated once at ``now``; each alert's
    value goes into ``values``."""
    out = {}
    for group in groups:
        result = run_check(config, group, now=now, notify=False)
        assert result.errors == [], (group, result.errors)
        out[group] = set()
        for a in result.alerts:
            key = (a.alertname, tuple(sorted(a.labels.items())), a.state)
            out[group].add(key)
            if a.value is not None:
                values[key] = a.value
    return out


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def longest_range(expr: str) -> float:
    """The longest range selector (``[5m]``) or ``offset`` in ``expr``, in seconds."""
    spans = re.findall(r"(?:\[|offset\s+)(\d+)([smhd])", expr)
    return max((int(n) * UNITS[u] for n, u in spans), default=0.0)


def borderline(key: tuple[Any, ...], value: float | None, exprs: dict[str, str]) -> bool:
    """Whether an alert seen through one store only is one whose value sits within a tenth of
    its rule's threshold: there the two stores' rate() differ by design (VictoriaMetrics does
    not extrapolate to the window's edges), as on a host whose CPU is busy near 80 %."""
    found = re.search(r"[<>]=?\s*(-?[0-9.]+)\s*$", exprs.get(key[0], ""))
    if value is None or found is None:
        return False
    threshold = float(found.group(1))
    return abs(value - threshold) <= 0.1 * max(abs(threshold), 1.0)


def outline(document: Document) -> list[Any]:
    """What a report shows apart from the numbers: sections, their tables' headers and the
    first column of each row (a host, a service, a container, an alert)."""
    return [
        (
            section.title,
            section.unavailable,
            [(table.headers, [str(row[0]) for row in table.rows]) for table in section.tables],
            [figure.title for figure in section.figures],
        )
        for section in document.sections
    ]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_three_hosts_through_victoria_metrics_alert_report_and_chart_as_prometheus(
    hosts: dict[str, str],
    stores: tuple[PrometheusServer, VictoriaMetrics, list[str]],
    sources: dict[str, Any],
    tmp_path: Path,
) -> None:
    started = time.time()  # Prometheus started a little before: it holds at least this much
    prometheus, victoria, rules = stores
    on_prometheus = config_for(prometheus.url, rules, tmp_path / "p.db", sources)
    on_victoria = config_for(victoria.url, rules, tmp_path / "v.db", sources)

    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for _, panel in rows_and_panels(dashboard)]

    def every_panel_on_both() -> bool:
        return not empty_panels(prometheus.url, panels) and not empty_panels(victoria.url, panels)

    try:
        wait_for(every_panel_on_both, within(40), "every panel with data on both stores")
    except AssertionError:
        gaps = {
            "prometheus": empty_panels(prometheus.url, panels),
            "victoria": empty_panels(victoria.url, panels),
        }
        raise AssertionError(f"panels without data: {gaps}") from None
    # the per-host alert has fired in Prometheus itself, for two hosts: remote-written too
    firing = 'ALERTS{alertname="ProbeFailingOnHost",alertstate="firing"}'
    wait_for(lambda: len(query(victoria.url, firing)) == 2, within(30), "ALERTS in VictoriaMetrics")

    # the same alerts from both stores, for every group, at the same moment
    now = datetime.now(tz=UTC) - timedelta(seconds=3)  # what both stores have had for 3 s
    ruleset = load_rules(rules)
    groups = [group.name for group in ruleset.groups]
    exprs = {rule.alert: rule.expr for group in ruleset.groups for rule in group.rules}
    # Over less history than a rule's range, the two stores differ by design: Prometheus's
    # rate() divides the increase it extrapolates by the whole range, VictoriaMetrics by the
    # span of the samples (docs/scaling-out.md). A fresh store holds a minute: such rules are
    # compared for their errors only, and named.
    held = time.time() - started
    partial = {name for name, expr in exprs.items() if longest_range(expr) > held}
    print(f"compared by errors only (a range over the {held:.0f} s held): {sorted(partial)}")
    values: dict[tuple[Any, ...], float] = {}
    from_prometheus = alerts_of(on_prometheus, groups, now, values)
    from_victoria = alerts_of(on_victoria, groups, now, values)
    differ: dict[str, dict[str, set[Any]]] = {}
    for group in groups:
        one_sided = {
            "only via VictoriaMetrics": from_victoria[group] - from_prometheus[group],
            "only via Prometheus": from_prometheus[group] - from_victoria[group],
        }
        for side, keys in one_sided.items():
            keys -= {k for k in keys if k[0] in partial}
            near = {k for k in keys if borderline(k, values.get(k), exprs)}
            if near:
                print(f"{group}: {side}, within a tenth of the threshold: {sorted(near)}")
            keys -= near
        if any(one_sided.values()):
            differ[group] = one_sided
    assert differ == {}
    # a per-host alert carries its host: one for each host whose probe fails
    per_host = {
        (dict(labels)["instance"], dict(labels)["service"])
        for name, labels, state in from_victoria["hosts-test"]
        if name == "ProbeFailingOnHost" and state == "firing"
    }
    assert per_host == {(hosts["docker"], "billing"), (hosts["probe"], "queue")}

    # the daily report: the same sections, tables and rows from either store
    report_now = datetime.now(tz=UTC) - timedelta(seconds=3)
    by_prometheus = build_document(on_prometheus, report_now, None)
    by_victoria = build_document(on_victoria, report_now, None)
    assert outline(by_victoria) == outline(by_prometheus)
    shown = {s.title: s.unavailable for s in by_victoria.sections}
    assert [title for title, line in shown.items() if line is not None] == [PREFECT_TITLE]
