"""The webhook body is Alertmanager's, field for field: a real Alertmanager (Debian's
``prometheus-alertmanager``, started here on loopback with a temp folder) is sent the same
alert, firing then resolved, and posts to a recording server; stackwatch's body for that alert
must equal what Alertmanager posted, but for ``externalURL`` (Alertmanager's own address)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.model import FIRING, RESOLVED, AlertState, fingerprint
from alerter.notify import Notification
from alerter.receivers import rfc3339, webhook_payload
from alerter.routing import Routed, build_tree, group_key, group_labels
from stackwatch.config import Config
from tests.support.http import RecordingServer
from tests.support.procs import free_port, require_binary, wait_for
from tests.support.timing import within

pytestmark = pytest.mark.integration

LABELS = {
    "alertname": "HighCpuUsage",
    "host": "web-1",
    "instance": "web-1:9810",
    "job": "stackwatch",
    "severity": "warning",
}
ANNOTATIONS = {"summary": "CPU usage on web-1 is 95.3%", "runbook_url": "https://r.test/cpu"}
EXPR = "test_cpu_ratio > 0.8"


class Alertmanager:
    """One Alertmanager process with its own storage folder, no cluster, on 127.0.0.1."""

    def __init__(self, folder: Path, webhook: str) -> None:
        binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
        config = {
            "route": {
                "receiver": "hook",
                "group_by": ["severity"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook}]}],
        }
        (folder / "alertmanager.yml").write_text(json.dumps(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (folder / "alertmanager.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'alertmanager.yml'}",
                f"--storage.path={folder / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
                f"--web.external-url={self.url}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: requests.get(f"{self.url}/-/ready", timeout=2).ok, within(20), "Alertmanager"
        )

    def post(self, alerts: list[dict[str, Any]]) -> None:
        response = requests.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        response.raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def hook() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def alertmanager(tmp_path: Path, hook: RecordingServer) -> Iterator[Alertmanager]:
    manager = Alertmanager(tmp_path, hook.url + "/hook")
    yield manager
    manager.stop()


def _ours(state: AlertState, config: Config) -> dict[str, Any]:
    notification = (
        Notification("threshold-test", (state,), (), (state,))
        if state.state == FIRING
        else Notification("threshold-test", (), (state,), ())
    )
    [route] = build_tree(config).match(state.labels)
    groups = group_labels(route, state.labels)
    routed = Routed(route.receiver, route, group_key(route, groups), groups, notification)
    return webhook_payload(routed, config, state.resolved_at or 0.0)


def test_the_webhook_body_is_alertmanagers(
    alertmanager: Alertmanager, hook: RecordingServer
) -> None:
    config = Config.model_validate(
        {
            "prometheus": {"url": "http://prometheus.test:9090"},
            "notify": {
                "receiver": "hook",
                "group_by": ["severity"],
                "receivers": [{"name": "hook", "webhook": {"url": hook.url + "/hook"}}],
            },
        }
    )
    fired = round(datetime.now(tz=UTC).timestamp() - 120, 3)
    state = AlertState(
        fingerprint("threshold-test", LABELS),
        "threshold-test",
        "HighCpuUsage",
        LABELS,
        ANNOTATIONS,
        FIRING,
        0.953,
        fired - 60,
        fired_at=fired,
        expr=EXPR,
    )
    ours = _ours(state, config)
    posted = {
        "labels": LABELS,
        "annotations": ANNOTATIONS,
        "startsAt": rfc3339(fired),
        "generatorURL": ours["alerts"][0]["generatorURL"],  # what Prometheus would send
    }
    alertmanager.post([posted])
    wait_for(lambda: hook.accepted, within(20), "Alertmanager's firing notification")
    theirs = json.loads(hook.accepted[0])
    assert theirs.pop("externalURL") == alertmanager.url
    ours.pop("externalURL")
    assert ours == theirs

    resolved_at = round(datetime.now(tz=UTC).timestamp() - 1, 3)
    alertmanager.post([{**posted, "endsAt": rfc3339(resolved_at)}])
    wait_for(lambda: len(hook.accepted) == 2, within(20), "Alertmanager's resolved notification")
    theirs = json.loads(hook.accepted[1])
    theirs.pop("externalURL")
    gone = replace(state, state=RESOLVED, resolved_at=resolved_at)
    ours = _ours(gone, config)
    ours.pop("externalURL")
    assert ours == theirs
