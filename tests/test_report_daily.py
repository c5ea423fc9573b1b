"""The daily report end to end on real parts: a real Prometheus scraping the real exporter (host,
services and Docker collectors on a real dockerd), a real Prefect server (test harness) holding a
completed and a failed flow run, the real alert database and a real SMTP server."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from prefect import flow

from alerter.model import FIRING, RESOLVED, AlertState
from alerter.store import AlertStore
from exporter.collectors import build_collectors
from exporter.server import Exporter
from flows.flow_history import daily_report
from stackwatch.config import Config
from stackwatch.reports.charts import MAX_BYTES
from stackwatch.reports.daily import send_daily_report
from tests.support.chromium import (
    WIDTHS,
    Rendered,
    artifacts,
    image_spread,
    mail_html,
    overflow,
    screenshot,
)
from tests.support.dockerd import DockerDaemon
from tests.support.http import LocalServer, fixed
from tests.support.procs import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

SECTIONS = (
    "Server",
    "Services",
    "Prefect flow runs, last 24 h",
    "Docker containers",
    "k3s",
    "Alerts",
)


@flow(name="report-test-ok")
def succeeding_flow() -> int:
    return 1


@flow(name="report-test-broken")
def failing_flow() -> None:
    raise RuntimeError("disk on fire")


@pytest.fixture(scope="module")
def flow_runs(prefect_api: str) -> dict[str, str]:
    """One completed and one failed run; returns the failed run's id."""
    ok = succeeding_flow(return_state=True)
    broken = failing_flow(return_state=True)
    assert ok.is_completed()
    assert broken.is_failed()
    return {"api": prefect_api, "failed_id": str(broken.state_details.flow_run_id)}


def make_alert_db(path: Path, now: datetime) -> None:
    """One alert firing now and one that fired and resolved within the last 24 h."""
    t = now.timestamp()
    with AlertStore(path) as store:
        store.save_group(
            "host",
            [
                AlertState(
                    fingerprint="fp-disk",
                    group="host",
                    alertname="DiskAlmostFull",
                    labels={"alertname": "DiskAlmostFull", "mountpoint": "/data"},
                    annotations={"summary": "Disk /data is 93% full"},
                    state=FIRING,
                    value=0.93,
                    active_since=t - 900,
                    fired_at=t - 600,
                    last_seen=t,
                ),
                AlertState(
                    fingerprint="fp-cpu",
                    group="host",
                    alertname="HighCpu",
                    labels={"alertname": "HighCpu", "instance": "server"},
                    annotations={"summary": "CPU above 80% for 15 minutes"},
                    state=RESOLVED,
                    value=0.85,
                    active_since=t - 3 * 3600,
                    fired_at=t - 3 * 3600 + 900,
                    resolved_at=t - 3600,
                    last_seen=t - 3600,
                ),
            ],
            t,
        )


@pytest.fixture
def stack(
    tmp_path: Path,
    dockerd: DockerDaemon,
    start_prometheus: Any,
    smtp_server: SmtpServer,
    flow_runs: dict[str, str],
) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:6]
    web = dockerd.run(["sleep", "600"], name=f"web-{tag}")
    broken = dockerd.run(["sh", "-c", "exit 3"], name=f"broken-{tag}")
    broken.wait(timeout=30)
    now = datetime.now(tz=UTC)
    db = tmp_path / "state.db"
    make_alert_db(db, now)
    with LocalServer(fixed(200)) as healthy:
        settings = {
            "exporter": {"probe_interval": "1s", "collectors": {"kubernetes": False}},
            "services": [
                {"name": "shop", "url": f"{healthy.url}/health", "timeout": "1s"},
                {"name": "billing", "url": f"http://127.0.0.1:{free_port()}/", "timeout": "1s"},
            ],
            "docker": {"host": dockerd.host},
            "state": {"path": str(db)},
        }
        exporter = Exporter(build_collectors(Config.model_validate(settings)))
        _host, port = exporter.serve("127.0.0.1:0")
        try:
            # 2 s leaves a loaded machine room to scrape within the timeout (a failed scrape
            # marks every series stale, and the charts' latest point with them)
            prometheus: PrometheusServer = start_prometheus(
                [f"127.0.0.1:{port}"], scrape_interval="2s"
            )
            prometheus.wait_for_series(f'container_state_status{{name="broken-{tag}"}} == 1')
            prometheus.wait_for_series('probe_success{service="billing"}')
            # two scrapes of the running container's CPU: a rate for its usage column
            prometheus.wait_for_series(
                f'rate(container_cpu_usage_seconds_total{{name="web-{tag}"}}[24h]) >= 0'
            )
            prometheus.wait_for_series('probe_success{service="shop"} == 1')
            prometheus.wait_for_series('rate(node_cpu_seconds_total{mode="idle"}[5m])')
            config = Config.model_validate(
                {
                    **settings,
                    "prometheus": {"url": prometheus.url, "retries": 0, "timeout": "5s"},
                    "prefect": {"api_url": flow_runs["api"]},
                    "links": {"prefect_ui_url": "http://prefect.example:4200"},
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": smtp_server.port,
                        "tls": "none",
                        "from": "stackwatch@example.org",
                        "to": ["ops@example.org"],
                    },
                }
            )
            yield {
                "config": config,
                "tag": tag,
                "prometheus": prometheus,
                "smtp": smtp_server,
                "failed_id": flow_runs["failed_id"],
            }
        finally:
            exporter.close()
            for container in (web, broken):
                container.remove(force=True)


def html_and_text(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert isinstance(html, EmailMessage)
    assert isinstance(text, EmailMessage)
    return html.get_content().replace("\r\n", "\n"), text.get_content().replace("\r\n", "\n")


def test_the_mail_arrives_with_every_section_and_right_counts(stack: dict[str, Any]) -> None:
    config, tag = stack["config"], stack["tag"]

    report = daily_report(config)
    send_daily_report(config, report)

    assert len(stack["smtp"].messages) == 1
    message = stack["smtp"].messages[0]
    assert message["Subject"] == report.subject
    html, text = html_and_text(message)
    for title in SECTIONS:
        assert f">{title}</h2>" in html
        assert f"\n{title}\n" in text
        assert f"## {title}" in report.markdown

    # server: uptime, CPU, RAM and the root filesystem, with averages and maxima
    assert re.search(r": up \d+ ", text)
    assert re.search(r"CPU\s+\d+\.\d %\s+\d+\.\d %\s+\d+\.\d %", text)
    assert re.search(r"RAM\s+\d+\.\d %", text)
    assert re.search(r"Disk /\s+\d+\.\d %", text)

    # services: billing is down and listed first; shop is up
    assert "1 of 2 services up." in text
    assert text.index("billing") < text.index("shop")
    assert re.search(r"billing\s+DOWN", text)
    assert re.search(r"shop\s+UP", text)

    # Prefect: one completed and one failed run, the failed one linked in the UI
    assert "2 run(s): 1 completed, 1 failed or crashed." in text
    assert re.search(r"report-test-ok\s+1\s+0\s+0\s+0", text)
    assert re.search(r"report-test-broken\s+0\s+1\s+0\s+0", text)
    link = f"http://prefect.example:4200/runs/flow-run/{stack['failed_id']}"
    assert f'href="{link}"' in html
    assert f"]({link})" in report.markdown

    # Docker: the exited container is at the top of its table
    assert text.index(f"broken-{tag}") < text.index(f"web-{tag}")
    assert re.search(rf"broken-{tag}\s+exited", text)
    assert re.search(rf"web-{tag}\s+running", text)
    # usage from the cgroups collector: CPU over the window and the working set; none when exited
    assert re.search(rf"web-{tag}\s+running\s+none\s+0\s+\d+\.\d\d cores\s+[\d.]+ [KM]iB", text)
    assert re.search(rf"broken-{tag}\s+exited\s+none\s+0\s+—\s+—", text)

    # k3s is not configured here; the alerts come from the alert database
    assert "k3s: not configured" in text
    assert "1 firing now; 1 fired and resolved in 24 h." in text
    assert "DiskAlmostFull" in html
    assert "HighCpu" in html

    # what needs attention is at the top and in the subject
    attention = text[: text.index("\nServer\n")]
    for problem in ("billing", f"broken-{tag}", "1 flow run(s) failed", "DiskAlmostFull"):
        assert problem in attention
    assert "need(s) attention" in report.subject

    # five charts, attached inline, referenced from the HTML at half their pixel size
    related = [p for p in message.walk() if p.get_content_type() == "image/png"]
    cids = {str(p["Content-ID"]).strip("<>") for p in related}
    assert cids == {
        "cpu-24h",
        "ram-24h",
        "disk-24h",
        "containers-cpu-24h",
        "containers-memory-24h",
    }
    for part in related:
        cid = str(part["Content-ID"]).strip("<>")
        assert part.get_content_disposition() == "inline"
        png = part.get_content()
        assert len(png) <= MAX_BYTES
        image = Image.open(io.BytesIO(png)).convert("L")
        img = re.search(rf'<img src="cid:{cid}" width="(\d+)" height="(\d+)" alt="([^"]+)"', html)
        assert img, cid
        assert image.size == (2 * int(img[1]), 2 * int(img[2]))
        assert ImageStat.Stat(image).stddev[0] > 10, f"{cid} is blank"
        # this Prometheus is minutes old: the rest of the 24 h is shaded and said to be
        assert "no data before" in img[3]
        shade = image.getpixel((image.width // 4, image.height // 4))
        assert 215 <= shade <= 240, (cid, shade)
    # the numbers are in the text too, for a reader without images
    assert re.search(r"CPU: min \d+\.\d % · avg \d+\.\d % · max \d+\.\d %", text)
    assert "alert above 80 %" in text
    assert "alert above 85 %" in text
    assert "alert above 90 %" in text
    assert re.search(rf"web-{tag}: min [\d.]+ [KM]iB · avg", text)
    assert re.search(rf"web-{tag}: min \d+\.\d\d cores", text)


def rendered_report(stack: dict[str, Any], width: int, folder: Path) -> Rendered:
    """The report mail as a reader sees it: headless Chromium at ``width`` px."""
    config = stack["config"]
    send_daily_report(config, daily_report(config))
    return screenshot(mail_html(stack["smtp"].messages[-1]), "daily-report", width, folder)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_charts_are_drawn(
    width: int, stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """At a mail client's width and a phone's, every chart is drawn (not blank) from its 2x
    image, never wider than its 1x size (whether the page fits is the next test's)."""
    shot = rendered_report(stack, width, artifacts(tmp_path_factory))

    charts = [i for i in shot.images if i["alt"].startswith(("CPU", "RAM", "Disk", "Memory"))]
    assert len(charts) == 5, shot.images
    for image in charts:
        assert image["complete"]
        assert image["naturalWidth"] == 1200, image  # twice the 600 px it is shown at
        assert 0 < image["width"] <= 600
        assert image_spread(shot, image) > 10, f"{image['alt']} is blank at {width} px"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_fits_the_screen(
    width: int, stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Nothing in the report mail is wider than the screen."""
    shot = rendered_report(stack, width, artifacts(tmp_path_factory))

    assert overflow(shot) is None, overflow(shot)


def test_with_prometheus_down_the_mail_still_arrives_and_says_so(stack: dict[str, Any]) -> None:
    config = stack["config"]
    stack["prometheus"].stop()

    report = daily_report(config)
    send_daily_report(config, report)

    message = stack["smtp"].messages[-1]
    _html, text = html_and_text(message)
    assert "Prometheus unreachable at" in text
    for title in ("Server", "Services", "Docker containers"):
        section = text[text.index(f"\n{title}\n") :]
        assert section.split("\n")[3].startswith("Prometheus unreachable at")
    # the other sources are still reported
    assert "2 run(s): 1 completed, 1 failed or crashed." in text
    assert "1 firing now" in text
    assert "k3s: not configured" in text
    assert not [p for p in message.walk() if p.get_content_type() == "image/png"]


def test_dry_run_writes_html_and_sends_nothing(
    stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackwatch.cli import main

    config_file = tmp_path / "stackwatch.yml"
    import yaml

    config_file.write_text(yaml.safe_dump(stack["config"].model_dump(mode="json", by_alias=True)))
    output = tmp_path / "out" / "report.html"
    output.parent.mkdir()

    code = main(
        ["report", "daily", "--dry-run", "--config", str(config_file), "--output", str(output)]
    )

    assert code == 0
    assert stack["smtp"].messages == []
    html = output.read_text()
    assert "Daily summary" in html
    assert "data:image/png;base64," in html
    assert "cid:" not in html
    assert output.with_suffix(".md").read_text().startswith("# Daily summary")


def test_an_old_window_counts_only_its_own_runs(stack: dict[str, Any]) -> None:
    """A report for a day long ago finds no flow runs and no alert history in its window."""
    report = daily_report(stack["config"], now=datetime.now(tz=UTC) - timedelta(days=30))
    assert "No flow runs started in the last 24 h." in report.text
    assert "0 fired and resolved in 24 h." in report.text


def kube_state_metrics(collector_ok: bool) -> str:
    """The kube_* series the k3s collector exports, in kube-state-metrics' names and labels."""
    lines = [f'stackwatch_scrape_collector_success{{collector="kubernetes"}} {int(collector_ok)}']
    for node, status in (("k3s-1", "true"), ("k3s-2", "unknown")):
        for value in ("true", "false", "unknown"):
            lines.append(
                f'kube_node_status_condition{{node="{node}",condition="Ready",status="{value}"}} '
                f"{int(value == status)}"
            )
    pods = [
        ("default", "web-1", "Running", True, None),
        ("default", "api-1", "Running", False, "CrashLoopBackOff"),
        ("monitoring", "prom-0", "Pending", False, "ImagePullBackOff"),
        ("jobs", "backup-1", "Succeeded", False, None),
    ]
    for namespace, pod, phase, ready, reason in pods:
        ids = f'namespace="{namespace}",pod="{pod}",uid="uid-{pod}"'
        for each in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            lines.append(f'kube_pod_status_phase{{{ids},phase="{each}"}} {int(each == phase)}')
        for condition in ("true", "false", "unknown"):
            value = int((condition == "true") == ready and condition != "unknown")
            lines.append(f'kube_pod_status_ready{{{ids},condition="{condition}"}} {value}')
        if reason:
            lines.append(
                f'kube_pod_container_status_waiting_reason{{{ids},container="main",'
                f'reason="{reason}"}} 1'
            )
    for name, desired, available in (("web", 1, 1), ("api", 2, 0)):
        ids = f'namespace="default",deployment="{name}"'
        lines.append(f"kube_deployment_spec_replicas{{{ids}}} {desired}")
        lines.append(f"kube_deployment_status_replicas_available{{{ids}}} {available}")
    return "\n".join(lines) + "\n"


def test_k3s_section_from_cluster_metrics(start_prometheus: Any, tmp_path: Path) -> None:
    """A real Prometheus scrapes a local endpoint serving the k3s collector's series (no
    Kubernetes API server can run here): a node NotReady, a crash-looping and an image-pull
    pod, a completed job pod, and a deployment with 0 of 2 replicas available."""
    payload = {"text": kube_state_metrics(True)}
    with LocalServer(lambda request: (200, payload["text"].encode())) as endpoint:
        prometheus = start_prometheus([endpoint.url.removeprefix("http://")])
        prometheus.wait_for_series('kube_deployment_spec_replicas{deployment="api"}')
        config = Config.model_validate(
            {
                "prometheus": {"url": prometheus.url, "retries": 0},
                "kubernetes": {"enabled": True},
                "docker": {"enabled": False},
                "state": {"path": str(tmp_path / "none.db")},
            }
        )

        text = daily_report(config).text

        section = text[text.index("\nk3s\n") : text.index("\nAlerts\n")]
        assert "2 node(s), 1 not ready; 4 pod(s), 2 not ready; 1 deployment(s)" in section
        assert re.search(r"! k3s-2\s+unknown", section)
        assert re.search(r"  k3s-1\s+true", section)
        assert re.search(r"  default\s+2\s+0\s+0\s+0\s+0", section)
        assert re.search(r"  jobs\s+0\s+0\s+1\s+0\s+0", section)
        assert re.search(r"  monitoring\s+0\s+1\s+0\s+0\s+0", section)
        assert re.search(r"! default\s+api-1\s+CrashLoopBackOff", section)
        assert re.search(r"! monitoring\s+prom-0\s+ImagePullBackOff", section)
        assert "backup-1" not in section  # a completed pod is not "not ready"
        assert re.search(r"! default\s+api\s+0\s+2", section)
        assert "Docker: not configured" in text
        assert "Alerts: no alert database at" in text

        payload["text"] = kube_state_metrics(False)
        prometheus.wait_for_series(
            'stackwatch_scrape_collector_success{collector="kubernetes"} == 0'
        )
        text = daily_report(config).text
        assert "k3s: the exporter cannot read the Kubernetes API" in text
