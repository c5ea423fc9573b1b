"""The Grafana dashboard: its queries return data from a real Prometheus scraping the exporter.

Prometheus (Debian's) scrapes the real exporter, served in-process: its host collector reads this
machine's /proc (network interfaces, the disks diskstats keeps, PSI), its Docker and cgroups
collectors watch a real dockerd running a few busybox containers (one busy under a CPU quota and
a memory limit), it probes local HTTP(S) servers, and Prometheus loads rules/*.yml so that
``ALERTS`` has series. No real Kubernetes API server can run here: for the k3s row a local HTTP
server serves realistic NodeList, PodList and DeploymentList JSON to the real ``kubernetes``
client (the Kubernetes collector tests' fake API server); without it the k3s row stays empty and
must say so.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from exporter.server import Exporter
from stackwatch.config import Config
from tests.support.dockerd import DockerDaemon
from tests.support.http import LocalServer, fixed, self_signed_cert
from tests.support.procs import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within
from tests.test_kubernetes_collector import FakeApiServer, write_kubeconfig

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_PATH = REPO / "grafana/dashboards/stackwatch.json"
DATASOURCES_PATH = REPO / "grafana/provisioning/datasources/prometheus.yml"
ROWS = [
    "Host",
    "Network",
    "Disk I/O",
    "Pressure",
    "Docker containers",
    "Container usage",
    "Services",
    "k3s",
    "Alerts",
    "Exporter",
]
# Rows whose every panel must say what unit its numbers are in.
UNIT_ROWS = {"Network", "Disk I/O", "Pressure", "Container usage"}
# What Grafana substitutes: $instance set to All, $__rate_interval at least 4 scrapes (1s here).
VARIABLES = {"$instance": ".*", "$__rate_interval": "5s"}

Panel = dict[str, Any]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text())
    return data


def rows_and_panels(dashboard: dict[str, Any]) -> list[tuple[str, Panel]]:
    """Each non-row panel with the title of the row above it."""
    out = []
    row = ""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            out.extend((row, inner) for inner in panel.get("panels", []))
        else:
            out.append((row, panel))
    return out


def expressions(panel: Panel) -> list[str]:
    return [target["expr"] for target in panel["targets"]]


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


# --- static -------------------------------------------------------------------------------------


def test_rows_cover_the_stack(dashboard: dict[str, Any]) -> None:
    assert [p["title"] for p in dashboard["panels"] if p["type"] == "row"] == ROWS
    by_row: dict[str, int] = {}
    for row, _ in rows_and_panels(dashboard):
        by_row[row] = by_row.get(row, 0) + 1
    assert all(by_row.get(row, 0) >= 4 for row in ROWS), by_row


def test_data_source_references_match_the_provisioned_uid(dashboard: dict[str, Any]) -> None:
    [datasource] = yaml.safe_load(DATASOURCES_PATH.read_text())["datasources"]
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    for _, panel in rows_and_panels(dashboard):
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"] == expected, variable["name"]
    # nothing else refers to a data source by another uid (annotations use Grafana's own)
    uids = set(re.findall(r'"uid": "([^"]+)"', DASHBOARD_PATH.read_text()))
    assert uids == {datasource["uid"], "-- Grafana --", dashboard["uid"]}


def test_layout_has_unique_ids_and_no_overlapping_panels(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_usage_panels_have_units(dashboard: dict[str, Any]) -> None:
    for row, panel in rows_and_panels(dashboard):
        if row in UNIT_ROWS:
            assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


def test_k3s_panels_say_no_data_gracefully(dashboard: dict[str, Any]) -> None:
    for row, panel in rows_and_panels(dashboard):
        uses_kube = any("kube_" in expr for expr in expressions(panel))
        assert uses_kube == (row == "k3s"), panel["title"]
        if row == "k3s":
            assert panel["fieldConfig"]["defaults"]["noValue"] == "k3s not configured"


# --- against real servers -------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def containers(dockerd: DockerDaemon) -> Iterator[list[Any]]:
    """A healthy, an unhealthy, a crash-looping, an exited and a busy, limited container."""

    def healthcheck(command: str) -> dict[str, Any]:
        return {"test": ["CMD", command], "interval": int(0.5e9), "timeout": int(1e9), "retries": 1}

    started = [
        dockerd.run("sleep 300", name=unique("web"), healthcheck=healthcheck("true")),
        dockerd.run("sleep 300", name=unique("sick"), healthcheck=healthcheck("false")),
        dockerd.run(
            ["sh", "-c", "sleep 1; exit 1"],
            name=unique("crashloop"),
            restart_policy={"Name": "always"},
        ),
        dockerd.run("true", name=unique("oneshot")),
        # a CPU loop held to a fifth of a core (so it barely loads the machine) in 64 MiB
        dockerd.run(
            ["sh", "-c", "while :; do :; done"],
            name=unique("busy"),
            nano_cpus=200_000_000,
            mem_limit="64m",
        ),
    ]
    yield started
    for container in started:
        container.remove(force=True)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """An HTTP service that answers, an HTTPS one, and one that is down."""
    cert, key, _ = self_signed_cert(tmp_path, days=10)
    with LocalServer(fixed(200)) as web, LocalServer(fixed(200), tls=(cert, key)) as tls:
        yield [
            {"name": "web", "url": f"{web.url}/health"},
            {"name": "secure", "url": f"{tls.url}/health", "verify_tls": False},
            {"name": "down", "url": f"http://127.0.0.1:{free_port()}/health", "timeout": "1s"},
        ]


def serve_exporter(config: dict[str, Any]) -> tuple[Exporter, str]:
    exporter = Exporter.from_config(Config.model_validate(config))
    host, port = exporter.serve("127.0.0.1:0")
    return exporter, f"{host}:{port}"


def prometheus_for(
    start_prometheus: Callable[..., PrometheusServer], address: str
) -> PrometheusServer:
    rules = sorted(str(path) for path in (REPO / "rules").glob("*.yml"))
    return start_prometheus([address], job="stackwatch", rule_files=rules)


def query(prometheus: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    """Run a query as Grafana would; a PromQL error fails the test (not just "no data")."""
    response = requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def empty_panels(
    prometheus: PrometheusServer, panels: list[Panel], timeout: float
) -> dict[str, list[str]]:
    """Poll until every panel has data for every query, or the timeout; returns what is empty."""
    deadline = time.monotonic() + timeout
    while True:
        empty: dict[str, list[str]] = {}
        for panel in panels:
            missing = [e for e in expressions(panel) if not query(prometheus, substitute(e))]
            if missing:
                empty[panel["title"]] = missing
        if not empty or time.monotonic() > deadline:
            return empty
        time.sleep(1)


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_every_panel_shows_data_and_k3s_says_not_configured(
    dashboard: dict[str, Any],
    dockerd: DockerDaemon,
    containers: list[Any],
    services: list[dict[str, Any]],
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    exporter, address = serve_exporter(
        {
            "exporter": {"probe_interval": "1s"},
            "services": services,
            "docker": {"host": dockerd.host},
            "kubernetes": {"enabled": False},
        }
    )
    try:
        prometheus = prometheus_for(start_prometheus, address)
        panels = [panel for row, panel in rows_and_panels(dashboard) if row != "k3s"]
        assert empty_panels(prometheus, panels, timeout=within(60)) == {}
        # the k3s row: valid queries, no data, and a panel text that says why
        for row, panel in rows_and_panels(dashboard):
            if row == "k3s":
                for expr in expressions(panel):
                    assert query(prometheus, substitute(expr)) == [], panel["title"]
        # the data is the right data, not just any data
        states = query(prometheus, "sum by (state) (stackwatch_docker_containers)")
        by_state = {s["metric"]["state"]: float(s["value"][1]) for s in states}
        assert by_state["running"] >= 2
        assert by_state["exited"] >= 1
        unhealthy = query(
            prometheus, substitute(expressions(panel_named(dashboard, "Unhealthy"))[0])
        )
        assert float(unhealthy[0]["value"][1]) >= 1
        up = query(prometheus, substitute(expressions(panel_named(dashboard, "Services up"))[0]))
        assert {s["metric"]["service"]: s["value"][1] for s in up} == {
            "web": "1",
            "secure": "1",
            "down": "0",
        }
        check_host_rows(dashboard, prometheus)
        check_container_usage(dashboard, prometheus, busy=containers[-1].name)
        alerts = {a["metric"]["alertname"] for a in query(prometheus, "ALERTS")}
        assert {"ServiceDown", "ContainerUnhealthy", "TlsCertificateExpiringSoon"} <= alerts
    finally:
        exporter.close()


@pytest.mark.integration
def test_k3s_row_shows_the_cluster_when_configured(
    dashboard: dict[str, Any],
    start_prometheus: Callable[..., PrometheusServer],
    tmp_path: Path,
) -> None:
    with FakeApiServer() as api_server:
        exporter, address = serve_exporter(
            {
                "docker": {"enabled": False},
                "kubernetes": {
                    "enabled": True,
                    "kubeconfig": str(write_kubeconfig(tmp_path, api_server.url)),
                    "refresh_interval": "1s",
                },
            }
        )
        try:
            prometheus = prometheus_for(start_prometheus, address)
            panels = [panel for row, panel in rows_and_panels(dashboard) if row == "k3s"]
            assert empty_panels(prometheus, panels, timeout=within(30)) == {}
        finally:
            exporter.close()


def panel_named(dashboard: dict[str, Any], title: str) -> Panel:
    [panel] = [p for _, p in rows_and_panels(dashboard) if p["title"] == title]
    return panel


def panel_values(dashboard: dict[str, Any], prometheus: PrometheusServer, title: str) -> list[Any]:
    """The series of a panel's queries: (labels, value) pairs."""
    return [
        (s["metric"], float(s["value"][1]))
        for expr in expressions(panel_named(dashboard, title))
        for s in query(prometheus, substitute(expr))
    ]


def kept_disks() -> set[str]:
    """Devices of /proc/diskstats that node_exporter's default exclusion keeps."""
    excluded = re.compile(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
    names = {line.split()[2] for line in Path("/proc/diskstats").read_text().splitlines()}
    return {name for name in names if not excluded.match(name)}


def check_host_rows(dashboard: dict[str, Any], prometheus: PrometheusServer) -> None:
    """Network, disk I/O and pressure panels show this machine's interfaces, disks and PSI."""
    # other tests on this machine may add and remove interfaces; the default route's stays
    routes = [line.split() for line in Path("/proc/net/route").read_text().splitlines()[1:]]
    uplinks = {fields[0] for fields in routes if fields[1] == "00000000"} or {
        line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]
    } - {"lo"}
    assert uplinks, "this machine has no network interface but lo"
    for title in ("Traffic per interface", "Errors per interface", "Drops per interface"):
        shown = {labels["device"] for labels, _ in panel_values(dashboard, prometheus, title)}
        assert uplinks <= shown, title
        assert "lo" not in shown, title
    # this VM's disk is vda (virtio); diskstats keeps it and zram0, drops loop* and partitions
    disks = kept_disks()
    assert disks
    for title in ("Disk throughput", "Disk IOPS", "Disk utilisation"):
        shown = {labels["device"] for labels, _ in panel_values(dashboard, prometheus, title)}
        assert shown == disks, title
    for _, busy in panel_values(dashboard, prometheus, "Disk utilisation"):
        assert 0 <= busy <= 1.05
    for title in ("CPU pressure", "Memory pressure over time", "I/O pressure over time"):
        for _, share in panel_values(dashboard, prometheus, title):
            assert 0 <= share <= 1.05, title


def check_container_usage(
    dashboard: dict[str, Any], prometheus: PrometheusServer, busy: str
) -> None:
    """The busy container tops the CPU panel, and only it has a working set vs limit."""
    [(top, cores), *_] = sorted(
        panel_values(dashboard, prometheus, "Top containers by CPU"), key=lambda pair: -pair[1]
    )
    assert top["name"] == busy
    assert 0.02 < cores < 0.3  # its quota is 0.2 of a core
    [(labels, share)] = panel_values(dashboard, prometheus, "Memory working set vs limit")
    assert labels["name"] == busy
    assert 0 < share < 1
    sizes = {
        labels["name"]: size
        for labels, size in panel_values(dashboard, prometheus, "Top containers by memory")
    }
    assert sizes[busy] > 0
