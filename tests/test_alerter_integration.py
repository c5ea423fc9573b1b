"""The alerter end to end: a real Prometheus scrapes a /metrics endpoint whose values the test
sets, rules are evaluated with run_check, and mail goes to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerter.check import _query_batch, query_rules, run_check
from alerter.rules import Rule
from alerter.store import AlertStore
from stackwatch.cli import main
from stackwatch.config import Config
from stackwatch.prometheus import PrometheusClient, TransientPrometheusError
from tests.support.chromium import WIDTHS, artifacts, mail_html, overflow, screenshot
from tests.support.procs import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import RULES, MetricsEndpoint, mail_parts, settle
from tests.support.smtp import SmtpServer
from tests.support.timing import within

pytestmark = pytest.mark.integration


@pytest.fixture
def make_config(
    tmp_path: Path, prometheus: PrometheusServer, smtp_server: SmtpServer
) -> Callable[..., Config]:
    def make(**overrides: Any) -> Config:
        data: dict[str, Any] = {
            "prometheus": {"url": prometheus.url, "retries": 0, "timeout": "5s"},
            "smtp": {
                "host": smtp_server.host,
                "port": smtp_server.port,
                "tls": "none",
                "from": "alerts@stackwatch.test",
                "to": ["ops@stackwatch.test", "oncall@stackwatch.test"],
                "timeout": "5s",
            },
            "rules": {"paths": [str(RULES)], "repeat_interval": "4h"},
            "state": {"path": str(tmp_path / "state.db")},
            "links": {"grafana_url": "https://grafana.stackwatch.test"},
        }
        for section, values in overrides.items():
            data.setdefault(section, {}).update(values)
        return Config.model_validate(data)

    return make


def test_firing_repeat_and_resolved_mail(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
) -> None:
    config = make_config(rules={"repeat_interval": "3s"})
    endpoint.set('test_cpu_ratio{host="web-1",note="fine"}', 0.953)
    settle(prometheus, "test_cpu_ratio > 0.9")

    # evaluation times are injected: the value holds from ``start`` on, so later times see it
    start = datetime.now(tz=UTC)
    first = run_check(config, "threshold-test", now=start)
    assert first.sent == ["[FIRING:1] threshold-test: HighCpuUsage"]
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["Subject"] == "[FIRING:1] threshold-test: HighCpuUsage"
    assert message.get_content_type() == "multipart/alternative"
    assert message["X-Envelope-To"] == "ops@stackwatch.test, oncall@stackwatch.test"
    text, html = mail_parts(message)
    assert "CPU usage on web-1 is 95.3%" in text
    assert "Value:  95.3 %" in text
    assert "https://runbooks.example.org/high-cpu" in text
    assert "graph?g0.expr=test_cpu_ratio%20%3E%200.8" in text
    assert "https://grafana.stackwatch.test" in html
    assert "CPU usage on web-1 is 95.3%" in html
    [alert] = first.alerts
    assert (alert.alertname, alert.state, alert.value) == ("HighCpuUsage", "firing", 0.953)
    assert alert.labels == {
        "alertname": "HighCpuUsage",
        "host": "web-1",
        "note": "fine",
        "severity": "warning",
        "instance": endpoint.target,
        "job": "stackwatch",
    }

    second = run_check(config, "threshold-test", now=start + timedelta(seconds=1))
    assert second.sent == []
    assert len(smtp_server.messages) == 1

    third = run_check(config, "threshold-test", now=start + timedelta(seconds=3.2))
    assert third.sent == ["[FIRING:1] threshold-test: HighCpuUsage"]  # repeat_interval passed
    assert run_check(config, "threshold-test", now=start + timedelta(seconds=4)).sent == []
    assert len(smtp_server.messages) == 2
    # one thread per group: the same References on every mail of the group
    assert smtp_server.messages[0]["References"] == smtp_server.messages[1]["References"]
    assert smtp_server.messages[0]["Message-ID"] != smtp_server.messages[1]["Message-ID"]

    endpoint.set('test_cpu_ratio{host="web-1",note="fine"}', 0.2)
    settle(prometheus, "test_cpu_ratio > 0.8", present=False)
    # never before the wall clock: an earlier time could see the value from before it changed
    later = max(datetime.now(tz=UTC), start + timedelta(seconds=5))
    resolved = run_check(config, "threshold-test", now=later)
    assert resolved.sent == ["[RESOLVED] threshold-test: HighCpuUsage"]
    assert [a.state for a in resolved.alerts] == ["resolved"]
    text, _html = mail_parts(smtp_server.messages[2])
    assert "FIRING" not in smtp_server.messages[2]["Subject"]
    assert "RESOLVED (1)" in text
    assert run_check(config, "threshold-test", now=later + timedelta(seconds=1)).sent == []
    assert len(smtp_server.messages) == 3

    with AlertStore(config.state.path) as store:
        assert store.firing() == []
        [episode] = store.history(datetime.now(tz=UTC) - timedelta(hours=1))
    assert episode.alertname == "HighCpuUsage"
    assert episode.state == "resolved"
    assert episode.summary == "CPU usage on web-1 is 95.3%"
    assert episode.resolved_at is not None


def test_for_waits_for_the_condition_to_hold(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    """``for: 1m`` is judged on Prometheus's own data at the evaluation time: the test picks
    evaluation times 30 s and 70 s after the condition began."""
    endpoint.set('test_slow_burn{host="db-1"}', 0)
    settle(prometheus, "test_slow_burn == 0")
    began = datetime.now(tz=UTC)
    endpoint.set('test_slow_burn{host="db-1"}', 1)
    settle(prometheus, "test_slow_burn > 0")

    config = make_config()
    early = run_check(config, "for-test", now=began + timedelta(seconds=30))
    [alert] = early.alerts
    assert alert.state == "pending"
    assert alert.active_since is not None
    assert abs((alert.active_since - began).total_seconds()) < within(4)
    assert early.sent == []

    later = run_check(config, "for-test", now=began + timedelta(seconds=70))
    assert [a.state for a in later.alerts] == ["firing"]
    assert later.sent == ["[FIRING:1] for-test: SlowBurn"]

    # a fresh database: the condition has held 70 s, so it fires on the very first evaluation
    fresh = make_config(state={"path": str(tmp_path / "fresh.db")})
    first = run_check(fresh, "for-test", now=began + timedelta(seconds=70))
    assert [a.state for a in first.alerts] == ["firing"]
    assert first.sent == ["[FIRING:1] for-test: SlowBurn"]
    assert len(smtp_server.messages) == 2


def test_smtp_outage_loses_and_duplicates_nothing(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
) -> None:
    # every run retries at once (the backoff is shown in test_outbox_delivery.py)
    config = make_config(smtp={"retry_interval": "0s"})
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")

    smtp_server.stop()
    down = run_check(config, "outage-test")
    assert down.sent == []
    assert down.queued == 1
    assert any("queued for retry" in e for e in down.errors)
    again = run_check(config, "outage-test")  # still down: retried, still queued, not doubled
    assert (again.sent, again.queued) == ([], 1)

    smtp_server.start()
    up = run_check(config, "outage-test")
    assert up.sent == ["[FIRING:1] outage-test: DiskAlmostFull"]
    assert up.queued == 0
    assert run_check(config, "outage-test").sent == []
    assert [m["Subject"] for m in smtp_server.messages] == [
        "[FIRING:1] outage-test: DiskAlmostFull"
    ]


def test_a_resolve_replaces_the_firing_mail_still_unsent(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
) -> None:
    config = make_config(smtp={"retry_interval": "0s"})
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")
    smtp_server.stop()
    assert run_check(config, "outage-test").queued == 1  # the FIRING mail waits
    endpoint.set('test_disk_ratio{host="nas"}', 0.5)
    settle(prometheus, "test_disk_ratio > 0.9", present=False)
    assert run_check(config, "outage-test").queued == 1  # the RESOLVED replaced it

    smtp_server.start()
    assert run_check(config, "outage-test").sent == ["[RESOLVED] outage-test: DiskAlmostFull"]
    assert [m["Subject"] for m in smtp_server.messages] == [
        "[RESOLVED] outage-test: DiskAlmostFull"
    ]


def test_concurrent_evaluations_send_one_mail(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(run_check(config, "outage-test")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 4
    assert sum(len(r.sent) for r in results) == 1
    assert len(smtp_server.messages) == 1


def test_silence_suppresses_mail_until_expired(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = make_config()
    config_file = tmp_path / "stackwatch.yml"
    config_file.write_text(f"state:\n  path: {config.state.path}\n")
    endpoint.set('test_unhealthy{name="api"}', 1)
    settle(prometheus, "test_unhealthy == 1")

    assert (
        main(
            [
                "silence",
                "add",
                "-c",
                str(config_file),
                "--match",
                "alertname=ContainerUnhealthy",
                "--match",
                "name=~ap.*",
                "--for",
                "2h",
                "--comment",
                "deploying",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("silence 1 until ")

    silenced = run_check(config, "silence-test")
    [alert] = silenced.alerts
    assert (alert.state, alert.silenced) == ("firing", True)
    assert silenced.sent == []
    assert smtp_server.messages == []
    with AlertStore(config.state.path) as store:
        assert [r.silenced for r in store.firing()] == [True]

    assert main(["silence", "list", "-c", str(config_file)]) == 0
    listing = capsys.readouterr().out
    assert "alertname=ContainerUnhealthy name=~ap.*" in listing
    assert "deploying" in listing
    assert main(["silence", "expire", "-c", str(config_file), "1"]) == 0
    assert main(["silence", "list", "-c", str(config_file)]) == 0
    assert "no silences" in capsys.readouterr().out

    after = run_check(config, "silence-test")
    assert after.sent == ["[FIRING:1] silence-test: ContainerUnhealthy"]
    assert [m["Subject"] for m in smtp_server.messages] == after.sent


def test_hostile_label_values_are_escaped(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    endpoint.set(
        r'test_cpu_ratio{host="evil",note="<script>alert(1)</script>\nBcc: victim@example.org"}',
        0.99,
    )
    settle(prometheus, 'test_cpu_ratio{host="evil"} > 0.9')
    result = run_check(config, "threshold-test")
    assert len(result.sent) == 1
    message = smtp_server.messages[-1]
    assert message["Bcc"] is None
    assert message["X-Envelope-To"] == "ops@stackwatch.test, oncall@stackwatch.test"
    text, html = mail_parts(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text shows it as it is
    endpoint.lines.clear()


def test_prometheus_unreachable_raises_and_changes_nothing(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")
    assert run_check(config, "outage-test").sent
    dead = make_config(prometheus={"url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(TransientPrometheusError, match="unreachable"):
        run_check(dead, "outage-test")
    with AlertStore(config.state.path) as store:
        assert [r.alertname for r in store.firing()] == ["DiskAlmostFull"]
    assert len(smtp_server.messages) == 1


def test_target_down_resolves_nothing_and_fires_blind(
    start_prometheus: Callable[..., PrometheusServer],
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    own = MetricsEndpoint()
    with own.server:
        prometheus = start_prometheus([own.target])
        own.set('test_probe_success{service="grafana"}', 0)
        settle(prometheus, "test_probe_success == 0")
        config = Config.model_validate(
            {
                "prometheus": {"url": prometheus.url, "retries": 0},
                "smtp": {
                    "host": smtp_server.host,
                    "port": smtp_server.port,
                    "tls": "none",
                    "to": "ops@stackwatch.test",
                },
                "rules": {"paths": [str(RULES)]},
                "state": {"path": str(tmp_path / "blind.db")},
            }
        )
        assert run_check(config, "blind-test").sent == ["[FIRING:1] blind-test: ServiceDown"]

        own.down = True
        settle(prometheus, 'up{job="stackwatch"} == 0')
        settle(prometheus, "test_probe_success", present=False)
        blind = run_check(config, "blind-test")
        assert blind.blind
        states = {a.alertname: a.state for a in blind.alerts}
        assert states == {"ServiceDown": "firing", "MonitoringBlind": "firing"}
        assert blind.sent == ["[FIRING:2] blind-test: MonitoringBlind, ServiceDown"]
        assert "RESOLVED" not in "".join(m["Subject"] for m in smtp_server.messages)

        own.down = False
        settle(prometheus, 'up{job="stackwatch"} == 1')
        seeing = run_check(config, "blind-test")
        assert not seeing.blind
        assert seeing.sent == ["[FIRING:1] blind-test: ServiceDown (resolved: MonitoringBlind)"]


def test_evaluate_and_list_commands_with_the_outbox_folder(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without smtp.host mail is written as .eml files; --dry-run writes and sends nothing."""
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")
    outbox = tmp_path / "outbox"
    config_file = tmp_path / "stackwatch.yml"
    config_file.write_text(
        f"prometheus:\n  url: {prometheus.url}\n"
        f"smtp:\n  outbox_dir: {outbox}\n  to: ops@stackwatch.test\n"
        f"rules:\n  paths: [{RULES}]\n"
        f"state:\n  path: {tmp_path / 'state.db'}\n"
    )
    config = ["-c", str(config_file)]

    assert main(["alerts", "evaluate", *config, "--group", "outage-test", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "== outage-test"
    assert "DiskAlmostFull  firing" in out
    assert "would send: [FIRING:1] outage-test: DiskAlmostFull" in out
    assert not outbox.exists()
    assert main(["alerts", "list", *config]) == 0
    assert capsys.readouterr().out.strip() == "no alerts"

    assert main(["alerts", "evaluate", *config, "--group", "outage-test"]) == 0
    out = capsys.readouterr().out
    assert "sent: [FIRING:1] outage-test: DiskAlmostFull" in out
    assert "queued in outbox: 0" in out
    [eml] = outbox.glob("*.eml")
    assert "Subject: [FIRING:1] outage-test: DiskAlmostFull" in eml.read_text()

    assert main(["alerts", "list", *config]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == [
        "GROUP",
        "ALERT",
        "STATE",
        "LABELS",
        "VALUE",
        "SINCE",
        "RESOLVED",
        "SUMMARY",
    ]
    assert rows[1].split()[:3] == ["outage-test", "DiskAlmostFull", "firing"]


def test_broken_rule_file_blinds_only_its_groups(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    good = make_config()
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")
    assert run_check(good, "outage-test").sent == ["[FIRING:1] outage-test: DiskAlmostFull"]

    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: outage-test\n    rules: [\n")
    config = make_config(rules={"paths": [str(broken), str(RULES)]})
    endpoint.set('test_disk_ratio{host="nas"}', 0.5)
    settle(prometheus, "test_disk_ratio > 0.9", present=False)

    result = run_check(config, "outage-test")
    assert result.blind
    assert result.errors == [
        f"{broken}:4: invalid YAML: expected the node content, but found '<stream end>'"
    ]
    states = {a.alertname: (a.state, a.labels.get("cause")) for a in result.alerts}
    assert states == {
        "DiskAlmostFull": ("firing", None),
        "MonitoringBlind": ("firing", "invalid_rules"),
    }
    assert result.sent == ["[FIRING:2] outage-test: DiskAlmostFull, MonitoringBlind"]

    other = run_check(config, "threshold-test")
    assert (other.blind, other.errors) == (False, [])


def test_failing_query_fires_blind_and_resolves_nothing(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
) -> None:
    config = make_config(rules={"paths": [str(RULES.parent / "query-failure.yml")]})
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    settle(prometheus, "test_disk_ratio > 0.9")
    first = run_check(config, "query-fail-test")
    assert first.blind
    [error] = first.errors
    assert error.startswith(f"{RULES.parent / 'query-failure.yml'}:7: Unparsable: query ")
    assert "parse error" in error  # Prometheus's own message
    blind = [a for a in first.alerts if a.alertname == "MonitoringBlind"]
    assert [a.labels["rule"] for a in blind] == ["Unparsable"]
    assert first.sent == ["[FIRING:2] query-fail-test: DiskAlmostFull, MonitoringBlind"]

    endpoint.set('test_disk_ratio{host="nas"}', 0.5)
    settle(prometheus, "test_disk_ratio > 0.9", present=False)
    second = run_check(config, "query-fail-test")
    assert {a.alertname: a.state for a in second.alerts} == {
        "DiskAlmostFull": "firing",
        "MonitoringBlind": "firing",
    }
    assert second.sent == []
    # a blind group saw nothing: its next evaluation looks at this time again
    with AlertStore(config.state.path) as store:
        assert store.covered_to("query-fail-test") is None


def test_rules_asked_together_answer_as_each_asked_alone(
    endpoint: MetricsEndpoint, prometheus: PrometheusServer, make_config: Callable[..., Config]
) -> None:
    """Rules over the same range are asked in one query; each gets the series it would alone,
    the same labels (``__name__`` included) and values, and none of another rule's."""
    endpoint.set('test_disk_ratio{host="nas"}', 0.97)
    endpoint.set('test_disk_ratio{host="web"}', 0.5)
    settle(prometheus, 'test_disk_ratio{host="web"} < 0.9')
    config = make_config()
    rules = [
        Rule(alert=f"R{i}", expr=expr, group="g")
        for i, expr in enumerate(
            (
                "test_disk_ratio > 0.9",
                "test_disk_ratio > 0",
                "max(test_disk_ratio) > 0  # a comment ends the line",
                "absent(nothing_here)",
                "test_disk_ratio > 2",
            )
        )
    ]
    now = time.time()
    with PrometheusClient(config.prometheus) as client:
        together = query_rules(client, rules, now, 1)
        alone = [query_rules(client, [rule], now, 1)[0] for rule in rules]
        # one query answered them all (not one each after a failed try)
        assert _query_batch(client, rules, together[0].window, now) is not None
    for batched, single in zip(together, alone, strict=True):
        assert batched.error is single.error is None
        assert sorted(map(repr, batched.series or [])) == sorted(map(repr, single.series or []))
    assert [len(q.series or []) for q in together] == [1, 2, 1, 1, 0]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_alert_mail_fits_the_screen(
    width: int,
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    make_config: Callable[..., Config],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The firing mail in headless Chromium at a mail client's width and a phone's: nothing
    wider than the screen. The labels are what a container's alert carries: a 64-character
    id and a long Compose label."""
    config = make_config()
    container = "4f9c2b7e1d3a" * 5 + "9a0b"
    labels = (
        f'host="web-1",note="fine",id="/system.slice/docker-{container}.scope",'
        "container_label_com_docker_compose_project_config_files="
        '"/srv/stacks/production/docker-compose.yml,/srv/stacks/production/override.yml"'
    )
    endpoint.set(f"test_cpu_ratio{{{labels}}}", 0.953)
    settle(prometheus, "test_cpu_ratio > 0.9")
    run_check(config, "threshold-test", now=datetime.now(tz=UTC))
    html = mail_html(smtp_server.messages[-1])

    shot = screenshot(html, "alert-mail", width, artifacts(tmp_path_factory))

    assert overflow(shot) is None, overflow(shot)
