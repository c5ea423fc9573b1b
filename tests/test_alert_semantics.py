"""Prometheus's own rule semantics, side by side with the real Prometheus: the same rule file is
loaded into it (``rule_files``) and evaluated by stackwatch against it, scraping a /metrics
endpoint whose text the test sets."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.check import run_check
from alerter.store import AlertStore
from stackwatch.config import Config
from tests.support.procs import require_binary, wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.query_api import PartialQuerier
from tests.support.scraped import MetricsEndpoint, settle
from tests.support.timing import within

pytestmark = pytest.mark.integration

RULES = Path(__file__).parent / "fixtures" / "rules" / "semantics.yml"


def _config(url: str, state: Path) -> Config:
    data: dict[str, Any] = {
        "prometheus": {"url": url, "retries": 0, "timeout": "5s"},
        "smtp": {"outbox_dir": str(state.parent / "outbox"), "to": "ops@stackwatch.test"},
        "rules": {"paths": [str(RULES)]},
        "state": {"path": str(state)},
    }
    return Config.model_validate(data)


def _prometheus_alerts(prometheus: PrometheusServer, name: str) -> list[dict[str, Any]]:
    response = requests.get(f"{prometheus.url}/api/v1/alerts", timeout=5)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name]


def test_fresh_prometheus_shows_for_rules_pending(start_prometheus: Any, tmp_path: Path) -> None:
    """``absent()`` and a ``vector()`` fallback are true at every step of a range query, also
    before Prometheus started; on a fresh server both are pending, as Prometheus shows them."""
    exporter = MetricsEndpoint()
    with exporter.server:
        exporter.set("test_temperature", 20)
        prometheus: PrometheusServer = start_prometheus([exporter.target], rule_files=[str(RULES)])
        settle(prometheus, "up == 1")  # scraped once: the target is seen, not missing
        config = _config(prometheus.url, tmp_path / "state.db")
        result = run_check(config, "fresh-test")
        assert {a.alertname: a.state for a in result.alerts} == {
            "NoTargets": "pending",
            "NothingScraped": "pending",
        }
        assert result.sent == []
        started = max(a.active_since.timestamp() for a in result.alerts if a.active_since)
        assert started > time.time() - within(60)
        # Prometheus's own rule engine agrees
        for name in ("NothingScraped", "NoTargets"):
            [own] = wait_for(
                lambda n=name: _prometheus_alerts(prometheus, n),  # type: ignore[misc]
                within(20),
                f"Prometheus to evaluate {name}",
            )
            assert own["state"] == "pending"
        assert {a.state for a in run_check(config, "fresh-test").alerts} == {"pending"}


def test_store_without_status_endpoints_or_up_counts_only_what_it_sees(
    start_prometheus: Any, tmp_path: Path
) -> None:
    """A remote store that lacks ``/api/v1/status/*`` and holds no ``up``: a local server stands
    in for such a Thanos or VictoriaMetrics in front of the real Prometheus (none runs here),
    answering no GET and leaving ``count(up)`` out. Nothing before the first evaluation counts
    as held: the rule is pending first, and fires once ``for`` has passed since."""
    exporter = MetricsEndpoint()
    with exporter.server:
        exporter.set("test_temperature", 20)
        prometheus: PrometheusServer = start_prometheus([exporter.target])
        settle(prometheus, "up == 1")
        with PartialQuerier(prometheus.url) as querier:
            querier.partial_for = ["count(up)"]
            config = _config(querier.url, tmp_path / "state.db")
            [first] = [
                a
                for a in run_check(config, "degraded-test").alerts
                if a.alertname == "NothingScrapedBriefly"
            ]
            assert first.state == "pending"
            assert first.active_since is not None
            pending_since = first.active_since.timestamp()
            wait_for(lambda: time.time() > pending_since + 2.5, within(10), "for: 2s to pass")
            [later] = [
                a
                for a in run_check(config, "degraded-test").alerts
                if a.alertname == "NothingScrapedBriefly"
            ]
            assert later.state == "firing"
            assert later.active_since == first.active_since


def test_labels_and_annotations_render_as_prometheus_renders_them(
    start_prometheus: Any, tmp_path: Path
) -> None:
    """``$labels`` holds the sample's labels (not the rule's own) and prints as a Go map."""
    exporter = MetricsEndpoint()
    with exporter.server:
        exporter.set('test_temperature{room="a"}', 35)
        exporter.set('test_temperature{room="b"}', 40.5)
        prometheus: PrometheusServer = start_prometheus([exporter.target], rule_files=[str(RULES)])
        settle(prometheus, "count(test_temperature > 30) == 2")
        theirs = wait_for(
            lambda: (
                (found := _prometheus_alerts(prometheus, "RoomTooWarm"))
                and len(found) == 2
                and found
            ),
            within(20),
            "Prometheus to fire RoomTooWarm",
        )
        config = _config(prometheus.url, tmp_path / "state.db")
        run_check(config, "labels-test")
        with AlertStore(config.state.path) as store:
            ours = store.group_states("labels-test")
        by_room = {a["labels"]["room"]: a for a in theirs}
        assert len(ours) == 2
        for alert in ours:
            own = by_room[alert.labels["room"]]
            assert alert.labels == own["labels"]
            assert alert.annotations == own["annotations"]
        [a] = [s for s in ours if s.labels["room"] == "a"]
        instance = exporter.target
        assert a.annotations["summary"] == (
            f"map[__name__:test_temperature instance:{instance} job:stackwatch room:a]"
        )


OPENMETRICS_STEP = 15  # seconds between the backfilled samples


def _backfill(prometheus: PrometheusServer, lines: list[str]) -> None:
    """Write ``lines`` (OpenMetrics samples) as TSDB blocks into the data folder before start."""
    promtool = require_binary("promtool", "prometheus")
    source = prometheus.workdir / "history.om"
    source.write_text("\n".join([*lines, "# EOF", ""]))
    data = prometheus.workdir / "data"
    data.mkdir(exist_ok=True)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=within(60),
    )


def test_first_evaluation_since_is_the_start_of_the_condition(
    tmp_path: Path,
) -> None:
    """A Prometheus with 40 minutes of history (backfilled with promtool as its scrapes would
    have written it): the value has been high for 25 minutes; the first evaluation of a rule
    with ``for: 1m`` says since 25 minutes, not since the start of its one-minute window."""
    exporter = MetricsEndpoint()
    with exporter.server:
        exporter.set('test_temperature{room="a"}', 35)
        prometheus = PrometheusServer(tmp_path / "prometheus", [exporter.target])
        prometheus.workdir.mkdir()
        now = int(time.time())
        became_high = now - 25 * 60
        target = f'instance="{exporter.target}",job="stackwatch"'
        stamps = range(now - 40 * 60, now - 5, OPENMETRICS_STEP)
        _backfill(
            prometheus,
            [
                "# TYPE up gauge",
                *(f"up{{{target}}} 1 {ts}" for ts in stamps),
                "# TYPE test_temperature gauge",
                *(
                    f'test_temperature{{{target},room="a"}} {35 if ts >= became_high else 20} {ts}'
                    for ts in stamps
                ),
            ],
        )
        prometheus.start()
        try:
            settle(prometheus, "test_temperature > 30")
            config = _config(prometheus.url, tmp_path / "state.db")
            result = run_check(config, "history-test")
            [alert] = result.alerts
            assert alert.state == "firing"
            assert alert.active_since is not None
            since = alert.active_since.timestamp()
            # within a step of the look-back (40 minutes in a few hundred steps)
            assert became_high - OPENMETRICS_STEP - 30 <= since <= became_high + 30
            [mail] = (tmp_path / "outbox").glob("*.eml")
            assert time.strftime("%Y-%m-%d %H:%M", time.gmtime(since)) in mail.read_text()
        finally:
            prometheus.stop()


def test_a_server_with_long_history_bounds_nothing_and_since_looks_back_a_day(
    tmp_path: Path,
) -> None:
    """A Prometheus holding 25 hours of scrapes (backfilled): ``absent()`` has held all along,
    so it fires at once, active since the look back's bound of 24 hours, in coarse steps."""
    exporter = MetricsEndpoint()
    with exporter.server:
        prometheus = PrometheusServer(tmp_path / "prometheus", [exporter.target], retention="3d")
        prometheus.workdir.mkdir()
        now = int(time.time())
        target = f'instance="{exporter.target}",job="stackwatch"'
        _backfill(
            prometheus,
            [
                "# TYPE up gauge",
                *(f"up{{{target}}} 1 {ts}" for ts in range(now - 25 * 3600, now - 5, 60)),
            ],
        )
        prometheus.start()
        try:
            settle(prometheus, "up == 1")
            config = _config(prometheus.url, tmp_path / "state.db")
            [alert] = run_check(config, "long-history-test").alerts
            assert alert.state == "firing"
            assert alert.active_since is not None
            day_ago = time.time() - 24 * 3600
            assert day_ago - 300 - within(30) <= alert.active_since.timestamp() <= day_ago + 300
        finally:
            prometheus.stop()
