"""The flows' wiring that needs no server: schedules, deployments, retry policy, failure mail."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from uuid import uuid4

import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.states import Crashed, Failed

from alerter.store import FlowFailure
from flows.flow_history import daily_report, read_flow_runs
from flows.hooks import (
    failure_message,
    notify_failure,
    notify_recovery,
    record_completion,
    record_failure,
    recovered_message,
    run_link,
)
from flows.retry import retry_on
from flows.serve import build_deployments, load_flow, parse_overrides, parse_schedule
from stackwatch.catalog import FLOWS
from stackwatch.cli import main
from stackwatch.config import Config, parse_config
from stackwatch.cron import shortest_interval
from stackwatch.errors import ConfigError
from stackwatch.mail import TransientMailError
from stackwatch.prometheus import QueryError, TransientPrometheusError
from tests.support.http import SilentServer
from tests.support.procs import free_port
from tests.support.timing import within


def test_cron_schedules_are_utc_and_intervals_are_durations() -> None:
    cron = parse_schedule("*/5 * * * *")
    assert (cron.cron, cron.timezone) == ("*/5 * * * *", "UTC")
    assert parse_schedule("30s").interval == timedelta(seconds=30)
    assert parse_schedule("1h30m").interval == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("nightly-thing=30s", "expected NAME=SPEC with NAME one of system-health-check"),
        ("system-health-check", "expected NAME=SPEC"),
        ("system-health-check=soon", "SPEC must be a cron expression or a duration like 30s"),
        ("system-health-check=0s", "interval must be at least 1s"),
    ],
)
def test_bad_schedule_overrides_are_refused(argument: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_overrides([argument])


def test_seven_deployments_one_run_at_a_time() -> None:
    deployments = {d.name: d for d in build_deployments()}
    assert list(deployments) == [spec.name for spec in FLOWS]
    for spec in FLOWS:
        deployment = deployments[spec.name]
        assert deployment.flow_name == spec.name
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (spec.cron, "UTC")
        assert deployment.concurrency_limit == 1
        assert deployment.concurrency_options.collision_strategy == "CANCEL_NEW"
        assert deployment.paused is False


def test_each_flow_is_named_described_and_hooked_by_its_catalogue_entry() -> None:
    for spec in FLOWS:
        flow = load_flow(spec)
        assert (flow.name, flow.description) == (spec.name, spec.description)
        # a flow that mails nothing still records its runs and pings the heartbeat
        hooks = [notify_failure] if spec.mails else [record_failure]
        assert (flow.on_failure_hooks, flow.on_crashed_hooks) == (hooks, hooks), spec.name
        recovery = [notify_recovery] if spec.mails else [record_completion]
        assert flow.on_completion_hooks == recovery, spec.name


def shortest_gap(cron: str) -> float:
    """Seconds between the two closest runs of ``cron`` (over a year, or its next 4096 runs,
    which span more than two weeks), by Prefect's own croniter."""
    from prefect._vendor.croniter import croniter

    runs = croniter(cron, datetime(2026, 1, 1, tzinfo=UTC))
    times = [runs.get_next(float) for _ in range(600)]
    while times[-1] - times[0] < 366 * 86400 and len(times) < 4096:
        times += [runs.get_next(float) for _ in range(len(times))]
    return min(b - a for a, b in pairwise(times))


def test_every_flow_times_out_well_before_its_next_run() -> None:
    # A run that hangs must end Failed, and mail, before its next run is due: with one run per
    # deployment at a time, a run still going has every later one cancelled, with no mail.
    for spec in FLOWS:
        timeout = load_flow(spec).timeout_seconds
        gap = shortest_gap(spec.cron)
        assert timeout is not None, spec.name
        assert 0 < timeout <= gap / 2, (spec.name, timeout, gap)
        if "report" in spec.tags:
            assert timeout <= 3600, spec.name
        assert spec.run_timeout == timeout, spec.name


@pytest.mark.parametrize(
    "cron",
    ["*/5 * * * *", "0 6 * * *", "0 2 * * 0", "7,50 */3 * * 1-5", "0 0 1 * *", "0 12 * * 6,0"],
)
def test_shortest_interval_of_a_cron_schedule(cron: str) -> None:
    assert shortest_interval(cron) == shortest_gap(cron)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("*/5 * * *", "five fields"),
        ("61 * * * *", "minute: 61 is not in 0-59"),
        ("0 6 * * MON", "day of week: 'MON' is not a number"),
        ("0 0 31 2 *", "never runs"),
    ],
)
def test_cron_schedules_it_cannot_read_are_refused(cron: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shortest_interval(cron)


def test_schedule_override_replaces_only_that_flow() -> None:
    deployments = {
        d.name: d for d in build_deployments(parse_overrides(["threshold-alert-check=20s"]))
    }
    assert deployments["threshold-alert-check"].schedules[0].schedule.interval == timedelta(
        seconds=20
    )
    assert deployments["system-health-check"].schedules[0].schedule.cron == "*/5 * * * *"


def test_only_transient_errors_are_retried() -> None:
    condition = retry_on(TransientPrometheusError)
    retried = Failed(data=TransientPrometheusError("Prometheus at x unreachable"))
    assert condition(None, None, retried) is True  # type: ignore[arg-type]
    assert condition(None, None, Failed(data=QueryError("bad query"))) is False  # type: ignore[arg-type]
    assert retry_on(TransientMailError)(None, None, retried) is False  # type: ignore[arg-type]


def _flow_run() -> FlowRun:
    return FlowRun(
        id=uuid4(),
        name="brisk-otter",
        flow_id=uuid4(),
        run_count=1,
        start_time=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
    )


def test_failure_mail_names_the_flow_the_error_and_the_run() -> None:
    run = _flow_run()
    config = parse_config("links:\n  prefect_ui_url: https://prefect.example.org/\n", "t.yml")
    link = run_link(config, run.id)
    assert link == f"https://prefect.example.org/runs/flow-run/{run.id}"
    state = Failed(message="Prometheus at http://127.0.0.1:9 unreachable: <refused>")
    subject, text, html = failure_message("threshold-alert-check", run, state, link)
    assert subject == (
        "[FAILED] threshold-alert-check: Prometheus at http://127.0.0.1:9 unreachable: <refused>"
    )
    assert link in text
    assert "unreachable: <refused>" in text
    assert "&lt;refused&gt;" in html
    assert f'href="{link}"' in html


def test_failure_mail_goes_out_when_its_html_template_is_broken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flows.hooks

    monkeypatch.setattr(flows.hooks, "TEMPLATE", "no-such-template.html.j2")
    state = Failed(message="disk <full>")
    subject, text, html = failure_message("threshold-alert-check", _flow_run(), state, "http://x")
    assert subject == "[FAILED] threshold-alert-check: disk <full>"
    assert "disk <full>" in text
    assert "disk &lt;full&gt;" in html


STREAK = FlowFailure(
    "threshold-alert-check",
    failing_since=datetime(2026, 11, 27, 5, 0, tzinfo=UTC).timestamp(),
    failed_runs=3,
    last_failed=datetime(2026, 11, 27, 6, 0, tzinfo=UTC).timestamp(),
    last_error="disk <full>\nmore",
    last_mailed=None,
)


def test_reminder_mail_says_still_failing_since_when_and_how_many_runs() -> None:
    state = Failed(message="disk <full>")
    subject, text, html = failure_message(
        "threshold-alert-check", _flow_run(), state, "http://x", STREAK, 4 * 3600
    )
    assert subject == "[STILL FAILING] threshold-alert-check: disk <full>"
    assert "Still failing: 3 failed runs since 2026-11-27 05:00:00 UTC" in text
    assert "reminded at most every 4h" in text
    assert "3 failed runs since 2026-11-27 05:00:00 UTC" in html


def test_recovered_mail_says_since_when_it_failed_and_its_last_error() -> None:
    subject, text, html = recovered_message(
        "threshold-alert-check", _flow_run(), STREAK, "http://prefect/runs/flow-run/1"
    )
    assert subject == "[RECOVERED] threshold-alert-check: after 3 failed runs"
    assert "failing since 2026-11-27 05:00:00 UTC: 3 failed runs" in text
    assert "Last error: disk <full>" in text
    assert "disk &lt;full&gt;" in html
    assert 'href="http://prefect/runs/flow-run/1"' in html


def test_crash_mail_says_crashed() -> None:
    subject, _, _ = failure_message(
        "k8s-health-check", _flow_run(), Crashed(message="process killed\nby OOM"), "http://x"
    )
    assert subject == "[CRASHED] k8s-health-check: process killed"


def test_flows_list_shows_every_flow_and_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "list"]) == 0
    out = capsys.readouterr().out
    for spec in FLOWS:
        assert any(
            line.split()[:6] == [spec.name, *spec.cron.split()] for line in out.splitlines()
        ), spec.name


def test_flows_run_refuses_an_unknown_flow(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["flows", "run", "hourly-thing"])
    assert exc.value.code == 2
    assert "invalid choice: 'hourly-thing'" in capsys.readouterr().err


def _report_config(tmp_path: Path, **prefect: object) -> Config:
    return Config.model_validate(
        {
            "prometheus": {"url": f"http://127.0.0.1:{free_port()}", "retries": 0},
            "prefect": prefect,
            "state": {"path": str(tmp_path / "none.db")},
        }
    )


def test_a_prefect_api_that_never_answers_is_asked_once_and_is_one_line(tmp_path: Path) -> None:
    with SilentServer() as silent:
        api = silent.url.removesuffix("/health")
        config = _report_config(tmp_path, api_url=api, timeout="500ms")
        now = datetime.now(tz=UTC)
        started = time.monotonic()
        history = read_flow_runs(config, now - timedelta(days=1), now)
        assert time.monotonic() - started < within(3.0)  # no client retries
        report = daily_report(config, now=now)

    assert history is not None
    assert (history.api_url, history.runs, history.error) == (api, (), "timed out")
    assert f"Prefect API unreachable at {api}: timed out" in report.text
    assert "Prefect API unreachable" in report.attention


def test_an_unreadable_prefect_key_fails_its_section_not_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_KEY_FOR_TEST", raising=False)
    config = _report_config(
        tmp_path, api_url="http://127.0.0.1:9/api", api_key={"env": "PREFECT_KEY_FOR_TEST"}
    )

    report = daily_report(config)

    assert (
        "Prefect flow runs, last 24 h: could not be built: environment variable "
        "PREFECT_KEY_FOR_TEST is not set" in report.text
    )
    assert "Prefect flow runs, last 24 h: could not be built" in report.attention
    assert "1 of" not in report.text  # the other sections still say what they can
    assert "Alerts: no alert database at" in report.text


def test_prefect_not_configured_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    now = datetime.now(tz=UTC)
    assert read_flow_runs(_report_config(tmp_path), now - timedelta(days=1), now) is None


def test_without_a_prefect_url_the_report_says_prefect_is_not_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.flow_history import read_flow_runs
    from stackwatch.config import Config

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    now = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    assert read_flow_runs(Config(), now - timedelta(days=1), now) is None
