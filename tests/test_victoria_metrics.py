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


def alerts_of(config: Config, groups: list[str], now: datetime) -> dict[str, set[Any]]:
    """Each group's alerts as (name, labels, state), evaluated once at ``now``."""
    out = {}
    for group in groups:
        result = run_check(config, group, now=now, notify=False)
        assert result.errors == [], (group, result.errors)
        out[group] = {
            (a.alertname, tuple(sorted(a.labels.items())), a.state) for a in result.alerts
        }
    return out


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
    groups = [group.name for group in load_rules(rules).groups]
    from_prometheus = alerts_of(on_prometheus, groups, now)
    from_victoria = alerts_of(on_victoria, groups, now)
    differ = {
        group: {
            "only via VictoriaMetrics": from_victoria[group] - from_prometheus[group],
            "only via Prometheus": from_prometheus[group] - from_victoria[group],
        }
        for group in groups
        if from_victoria[group] != from_prometheus[group]
    }
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
