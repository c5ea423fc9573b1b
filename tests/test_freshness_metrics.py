"""Freshness on the exporter: each group's last evaluation and each flow's last successful run,
recorded by the alerter's store and served by the ``outbox`` collector from the real database."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from alerter.check import run_check
from alerter.store import AlertStore
from exporter.collectors.outbox import OutboxCollector
from exporter.registry import build_registry
from stackwatch.catalog import BY_NAME
from stackwatch.config import Config
from stackwatch.prometheus import PrometheusError
from stackwatch.state_summary import read_state_summary
from tests.support.procs import free_port, require_binary
from tests.test_outbox_metrics import Serve, scrape_until, serve, value

__all__ = ["serve"]  # the fixture, used by name

NOW = time.time()
V3_DUMP = Path(__file__).parent / "fixtures" / "state" / "schema-v3.sql"
EVALUATED = 'stackwatch_rule_group_last_evaluation_timestamp_seconds{group="%s"}'
SUCCESS = 'stackwatch_rule_group_last_evaluation_success{group="%s"}'
FLOW = 'stackwatch_flow_last_success_timestamp_seconds{flow="%s"}'


def _v3_database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(V3_DUMP.read_text())
    db.commit()
    db.close()


@pytest.mark.integration
def test_a_real_scrape_serves_freshness_read_only_and_promtool_finds_nothing(
    serve: Serve, tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    with AlertStore(db) as store:
        store.record_evaluation("system-health-check", NOW - 60, success=True)
        store.record_evaluation("k8s-health-check", NOW - 30, success=False, error="boom")
        store.record_flow_success("system-health-check", NOW - 55)
        store.record_flow_success("system-health-check", NOW - 500)  # older: never wins
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    url = serve({"outbox": OutboxCollector(db, interval=0.1)})
    text = scrape_until(
        url, lambda t: value(t, EVALUATED % "system-health-check") is not None, "a reading"
    )
    assert value(text, EVALUATED % "system-health-check") == pytest.approx(NOW - 60)
    assert value(text, SUCCESS % "system-health-check") == 1
    assert value(text, EVALUATED % "k8s-health-check") == pytest.approx(NOW - 30)
    assert value(text, SUCCESS % "k8s-health-check") == 0
    assert value(text, FLOW % "system-health-check") == pytest.approx(NOW - 55)
    assert "# TYPE stackwatch_flow_last_success_timestamp_seconds gauge" in text

    promtool = require_binary("promtool", "prometheus")
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert (lint.stdout + lint.stderr).strip() == ""
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before

    # a group named after no flow: the interval of the flow that evaluates it
    interval = 'stackwatch_rule_group_interval_seconds{group="%s"}'
    assert value(text, interval % "k8s-health-check") == BY_NAME["k8s-health-check"].interval
    assert value(text, interval % "databases") is None  # never evaluated: not served
    with AlertStore(db) as store:
        store.record_evaluation("databases", NOW, success=True)
        store.record_evaluation("web", NOW, success=True)
    assigned = OutboxCollector(db, interval=0.1, assigned={"web": "services-health-check"})
    assigned.refresh()
    text = generate_latest(build_registry({"outbox": assigned})).decode()
    threshold = BY_NAME["threshold-alert-check"].interval
    assert value(text, interval % "databases") == threshold
    assert value(text, interval % "web") == BY_NAME["services-health-check"].interval
    # a group evaluated once and no longer (rules.flows: none): no interval, so never stale
    with AlertStore(db) as store:
        store.record_evaluation("stackwatch-watchdog", NOW - 86400, success=True)
    unevaluated = OutboxCollector.from_config(Config.model_validate({"state": {"path": str(db)}}))
    unevaluated.refresh()
    text = generate_latest(build_registry({"outbox": unevaluated})).decode()
    assert value(text, 'stackwatch_scrape_collector_success{collector="outbox"}') == 1
    assert value(text, interval % "stackwatch-watchdog") is None
    assert value(text, interval % "databases") == threshold

    # the next evaluation shows on a later scrape
    with AlertStore(db) as store:
        store.record_evaluation("system-health-check", NOW, success=False, error="x")
    text = scrape_until(url, lambda t: value(t, SUCCESS % "system-health-check") == 0, "next")
    assert value(text, EVALUATED % "system-health-check") == pytest.approx(NOW)


def test_a_version_3_database_is_served_before_and_after_its_migration(tmp_path: Path) -> None:
    """The exporter may read a database the alerter has not migrated yet: no freshness, no
    failure; once migrated, old rows are kept and the new tables work."""
    path = tmp_path / "state.db"
    _v3_database(path)
    summary = read_state_summary(path)
    assert summary is not None
    assert (summary.groups, summary.flows) == ({}, {})
    with AlertStore(path) as store:
        assert [f.flow for f in store.failing_flows()] == ["system-health-check"]
        assert [s.alertname for s in store.group_states("g")] == ["Old"]
        store.record_evaluation("g", NOW, success=True)
        store.record_flow_success("system-health-check", NOW)
    summary = read_state_summary(path)
    assert summary is not None
    assert summary.groups["g"].evaluated_at == pytest.approx(NOW)
    assert summary.flows == {"system-health-check": pytest.approx(NOW)}


def test_an_evaluation_that_cannot_reach_prometheus_is_recorded_as_failed(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n"
        "        labels: {severity: warning}\n        annotations: {summary: down}\n"
    )
    config = Config.model_validate(
        {
            "state": {"path": str(tmp_path / "state.db")},
            "rules": {"paths": [str(rules)]},
            "prometheus": {"url": f"http://127.0.0.1:{free_port()}"},
            "smtp": {"outbox_dir": str(tmp_path / "outbox")},
        }
    )
    with pytest.raises(PrometheusError):
        run_check(config, "g", now=None)
    with AlertStore(config.state.path) as store:
        [evaluation] = store.evaluations()
    assert (evaluation.group, evaluation.success) == ("g", False)
    assert evaluation.error
    assert evaluation.evaluated_at == pytest.approx(time.time(), abs=60)
    # a dry run writes nothing
    with pytest.raises(PrometheusError):
        run_check(config, "g", dry_run=True)
