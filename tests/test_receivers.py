"""Webhook and Apprise receivers through the outbox, against local HTTP servers that record
what they are sent (no chat service can run here; Apprise's ``json://`` posts to one).

The first test is end to end: a real Prometheus scrapes a /metrics endpoint the test sets,
``run_check`` evaluates the rules, routes the alert and delivers it to each receiver.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.check import run_check
from alerter.delivery import deliver
from alerter.model import FIRING, AlertState, fingerprint
from alerter.notify import MailRenderer, Notification
from alerter.receivers import apprise_body, webhook_body
from alerter.routing import build_tree, plan_routes
from alerter.store import AlertStore
from stackwatch.cli import main
from stackwatch.config import Config
from stackwatch.mail import Mailer
from stackwatch.reports.daily import build_daily_report
from stackwatch.state_summary import read_outbox_summary
from tests.support.http import RecordingServer, SilentServer
from tests.support.prometheus import PrometheusServer
from tests.support.scraped import RULES, MetricsEndpoint, settle
from tests.support.smtp import SmtpServer
from tests.support.timing import within

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0


def _config(tmp_path: Path, prometheus_url: str, notify: dict[str, Any], **smtp: Any) -> Config:
    return Config.model_validate(
        {
            "prometheus": {"url": prometheus_url, "retries": 0, "timeout": "5s"},
            "smtp": {"to": ["ops@stackwatch.test"], "outbox_dir": str(tmp_path / "eml"), **smtp},
            "rules": {"paths": [str(RULES)], "repeat_interval": "4h"},
            "state": {"path": str(tmp_path / "state.db")},
            "docker": {"enabled": False},
            "notify": notify,
        }
    )


def test_an_alert_is_routed_to_a_webhook_and_apprise_and_resolved_on_both(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with RecordingServer() as hook, RecordingServer() as chat:
        monkeypatch.setenv("CHAT_URL", chat.url.replace("http://", "json://") + "/chat")
        monkeypatch.setenv("HOOK_URL", hook.url + "/alerts?token=s3cret")
        notify = {
            "routes": [
                {"matchers": ['severity="warning"'], "receiver": "hook", "continue": True},
                {"matchers": ['host=~"web-[0-9]+"'], "receiver": "chat"},
            ],
            "receivers": [
                {"name": "hook", "webhook": {"url": {"env": "HOOK_URL"}}},
                {"name": "chat", "apprise": {"url": {"env": "CHAT_URL"}}},
            ],
        }
        smtp = {"host": smtp_server.host, "port": smtp_server.port, "tls": "none"}
        config = _config(tmp_path, prometheus.url, notify, **smtp)
        endpoint.set('test_cpu_ratio{host="web-1",note="fine"}', 0.953)
        settle(prometheus, "test_cpu_ratio > 0.9")
        start = datetime.now(tz=UTC)
        result = run_check(config, "threshold-test", now=start)
        assert result.errors == []
        assert sorted(result.sent) == ["[FIRING:1] threshold-test: HighCpuUsage"] * 2
        assert smtp_server.messages == []  # both routes caught it: the root's mail is not sent

        [(path, headers, body, _)] = hook.requests
        assert path == "/alerts?token=s3cret"
        assert headers["Content-Type"] == "application/json"
        payload = json.loads(body)
        assert sorted(payload) == sorted(
            [
                "receiver",
                "status",
                "alerts",
                "groupLabels",
                "commonLabels",
                "commonAnnotations",
                "externalURL",
                "version",
                "groupKey",
                "truncatedAlerts",
            ]
        )
        assert payload["version"] == "4"
        assert payload["receiver"] == "hook"
        assert payload["status"] == "firing"
        assert payload["groupKey"] == '{}/{severity="warning"}:{group="threshold-test"}'
        assert payload["groupLabels"] == {"group": "threshold-test"}
        assert payload["commonLabels"]["severity"] == "warning"
        assert payload["truncatedAlerts"] == 0
        [alert] = payload["alerts"]
        assert alert["status"] == "firing"
        assert alert["labels"] == {
            "alertname": "HighCpuUsage",
            "host": "web-1",
            "instance": endpoint.target,
            "job": "stackwatch",
            "note": "fine",
            "severity": "warning",
        }
        assert alert["annotations"]["summary"] == "CPU usage on web-1 is 95.3%"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        assert datetime.fromisoformat(alert["startsAt"]) <= start
        assert alert["generatorURL"].startswith(prometheus.url + "/graph?g0.expr=")
        assert len(alert["fingerprint"]) == 16

        [(chat_path, _, chat_body, _)] = chat.requests
        assert chat_path == "/chat"
        message = json.loads(chat_body)
        assert message["title"] == "[FIRING:1] threshold-test: HighCpuUsage"
        assert "CPU usage on web-1 is 95.3%" in message["message"]  # the mail's text part

        endpoint.set('test_cpu_ratio{host="web-1",note="fine"}', 0.2)
        settle(prometheus, "test_cpu_ratio > 0.9", present=False)
        later = datetime.now(tz=UTC) + timedelta(seconds=1)
        result = run_check(config, "threshold-test", now=later)
        assert sorted(result.sent) == ["[RESOLVED] threshold-test: HighCpuUsage"] * 2
        resolved = json.loads(hook.requests[-1][2])
        assert resolved["status"] == "resolved"
        [gone] = resolved["alerts"]
        assert gone["status"] == "resolved"
        assert gone["fingerprint"] == alert["fingerprint"]
        assert gone["endsAt"] != "0001-01-01T00:00:00Z"
        assert "RESOLVED" in json.loads(chat.requests[-1][2])["title"]
        # the token of the URL is nowhere in the state database
        assert b"s3cret" not in config.state.path.read_bytes()


def test_an_alert_of_a_host_that_is_down_elsewhere_waits_and_is_mailed_when_it_is_back(
    endpoint: MetricsEndpoint,
    prometheus: PrometheusServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    """Inhibition across rule groups, on the default route (one mail per group to smtp.to)."""
    inhibit = [
        {
            "source_matchers": ['alertname="DiskAlmostFull"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["host"],
        }
    ]
    smtp = {"host": smtp_server.host, "port": smtp_server.port, "tls": "none"}
    config = _config(tmp_path, prometheus.url, {"inhibit": inhibit}, **smtp)
    endpoint.set('test_disk_ratio{host="web-1"}', 0.95)
    endpoint.set('test_cpu_ratio{host="web-1",note="fine"}', 0.95)
    endpoint.set('test_cpu_ratio{host="web-2",note="fine"}', 0.95)
    try:
        settle(prometheus, 'test_cpu_ratio{host="web-2"} > 0.9')
        settle(prometheus, 'test_cpu_ratio{host="web-1"} > 0.9')
        settle(prometheus, "test_disk_ratio > 0.9")
        assert run_check(config, "outage-test").sent == ["[FIRING:1] outage-test: DiskAlmostFull"]
        held = run_check(config, "threshold-test")
        assert held.sent == ["[FIRING:1] threshold-test: HighCpuUsage"]
        inhibited = {a.labels["host"]: a.inhibited_by for a in held.alerts}
        assert inhibited == {
            "web-1": f"DiskAlmostFull{{host=web-1,instance={endpoint.target},job=stackwatch}}",
            "web-2": None,
        }
        assert "(inhibited by DiskAlmostFull{host=web-1" in held.to_markdown()
        [mail] = [m for m in smtp_server.messages if "threshold-test" in str(m["Subject"])]
        assert "web-2" in mail.as_string()
        assert "web-1" not in mail.as_string()

        endpoint.set('test_disk_ratio{host="web-1"}', 0.2)
        settle(prometheus, "test_disk_ratio > 0.9", present=False)
        assert run_check(config, "outage-test").sent == ["[RESOLVED] outage-test: DiskAlmostFull"]
        back = run_check(config, "threshold-test")
        assert back.sent == ["[FIRING:2] threshold-test: HighCpuUsage"]
        assert all(a.inhibited_by is None for a in back.alerts)
        assert run_check(config, "threshold-test").sent == []  # told once
    finally:
        endpoint.lines.pop('test_disk_ratio{host="web-1"}')
        endpoint.lines.pop('test_cpu_ratio{host="web-2",note="fine"}')
        endpoint.set('test_cpu_ratio{host="web-1",note="fine"}', 0.2)


def _queue_webhook(config: Config, store: AlertStore) -> str:
    labels = {"alertname": "HostDown", "instance": "web1", "severity": "critical"}
    down = AlertState(
        fingerprint("services", labels), "services", "HostDown", labels, {}, FIRING, 1.0, NOW
    )
    notification = Notification("services", (down,), (), (down,))
    [routed], _ = plan_routes(build_tree(config), [notification], {}, NOW)
    receiver = config.notify.receiver_config("hook")
    assert receiver is not None
    assert receiver.webhook is not None
    body = webhook_body(routed, config, receiver.webhook, NOW)
    store.enqueue("services", notification.subject, body, NOW, receiver="hook")
    return notification.subject


def _hook_config(tmp_path: Path, url: str, **smtp: Any) -> Config:
    notify = {"receiver": "hook", "receivers": [{"name": "hook", "webhook": {"url": url}}]}
    return _config(tmp_path, "http://127.0.0.1:9", notify, retry_interval="1m", **smtp)


def test_a_webhook_that_fails_then_recovers_gets_the_message_once(tmp_path: Path) -> None:
    with RecordingServer(statuses=(503, 200)) as hook:
        config = _hook_config(tmp_path, hook.url + "/hook")
        mailer = Mailer(config.smtp)
        with AlertStore(config.state.path) as store:
            subject = _queue_webhook(config, store)
            first = deliver(store, mailer, NOW, config.notify)
            assert first.sent == []
            assert first.errors == [
                f"{subject!r} to receiver hook queued for retry: "
                "webhook answered 503: try again later"
            ]
            [waiting] = store.queued()
            assert waiting.last_error == "webhook answered 503: try again later"
            assert deliver(store, mailer, NOW + 30, config.notify).sent == []  # backoff: 1m
            assert len(hook.requests) == 1
            assert deliver(store, mailer, NOW + 61, config.notify).sent == [subject]
            assert deliver(store, mailer, NOW + 3600, config.notify).sent == []
            assert store.queued() == []
        assert len(hook.requests) == 2
        [accepted] = hook.accepted
        assert json.loads(accepted)["alerts"][0]["labels"]["alertname"] == "HostDown"


def test_a_receiver_that_is_down_holds_back_no_other_receiver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RecordingServer(statuses=(503,)) as down, RecordingServer() as up:
        notify = {
            "receiver": "hook",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "up", "continue": True},
                {"receiver": "hook"},  # and every alert to the receiver that is down
            ],
            "receivers": [
                {"name": "hook", "webhook": {"url": down.url + "/down"}},
                {"name": "up", "webhook": {"url": up.url + "/up"}},
            ],
        }
        config = _config(tmp_path, "http://127.0.0.1:9", notify)
        labels = {"alertname": "HostDown", "instance": "web1", "severity": "critical"}
        alert = AlertState(
            fingerprint("services", labels), "services", "HostDown", labels, {}, FIRING, 1.0, NOW
        )
        routed, _ = plan_routes(
            build_tree(config), [Notification("services", (alert,), (), (alert,))], {}, NOW
        )
        assert [r.receiver for r in routed] == ["up", "hook"]
        with AlertStore(config.state.path) as store:
            for item in reversed(routed):
                receiver = config.notify.receiver_config(item.receiver)
                assert receiver is not None
                assert receiver.webhook is not None
                body = webhook_body(item, config, receiver.webhook, NOW)
                store.enqueue("services", "s", body, NOW, receiver=item.receiver)
            # the receiver that is down is tried first and fails; the other still gets its own
            result = deliver(store, Mailer(config.smtp), NOW, config.notify)
            assert result.sent == ["s"]
            assert [m.receiver for m in store.queued()] == ["hook"]
        assert len(down.requests) == 1
        assert len(up.accepted) == 1
        assert main(["alerts", "list", "--config", str(_write(tmp_path, config))]) == 0
        out = capsys.readouterr().out
        assert "s (to hook)  attempts: 1 (last error: webhook answered 503" in out


def _write(tmp_path: Path, config: Config) -> Path:
    path = tmp_path / "stackwatch.yml"
    path.write_text(yaml.safe_dump({"state": {"path": str(config.state.path)}}))
    return path


def test_a_webhook_that_never_recovers_is_a_dead_letter_where_dead_mail_is_shown(
    tmp_path: Path,
) -> None:
    with RecordingServer(statuses=(503,)) as hook:
        config = _hook_config(tmp_path, hook.url + "/hook", give_up_after="1h")
        mailer = Mailer(config.smtp)
        with AlertStore(config.state.path) as store:
            subject = _queue_webhook(config, store)
            deliver(store, mailer, NOW, config.notify)
            later = deliver(store, mailer, NOW + 3600, config.notify)
            assert later.dead == [subject]
            assert store.queued() == []
            [dead] = store.dead()
            assert dead.receiver == "hook"
            assert dead.refusals() == {
                "hook": "gave up after 1h: last answer webhook answered 503: try again later"
            }
            # the dead letter is never tried again
            assert deliver(store, mailer, NOW + 7200, config.notify).sent == []
        assert len(hook.requests) == 2

        summary = read_outbox_summary(config.state.path)  # what the exporter's metrics read
        assert summary is not None
        assert summary.mails == {"queued": 0, "sent": 0, "dead": 1}

        # the daily report lists it with the dead mail of the last 24 h
        with AlertStore(config.state.path) as store:
            store._db.execute("UPDATE outbox SET dead_at = ?", (datetime.now(tz=UTC).timestamp(),))
        text = build_daily_report(config, flow_runs=None).text
        part = text[text.index("\nMail delivery\n") :]
        assert "1 alert mail(s) dead in the last 24 h." in part
        assert subject in part
        assert "hook" in part
        assert "webhook answered 503: try again later" in part


def test_a_webhook_refusing_for_good_is_dead_at_once_and_mail_still_goes(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    with RecordingServer(statuses=(404,)) as hook:
        smtp = {"host": smtp_server.host, "port": smtp_server.port, "tls": "none"}
        config = _hook_config(tmp_path, hook.url + "/gone", **smtp)
        mailer = Mailer(config.smtp)
        with AlertStore(config.state.path) as store:
            subject = _queue_webhook(config, store)
            mail = mailer.compose("[FIRING:1] other: Mail", "text", "<p>html</p>")
            store.enqueue("services", "[FIRING:1] other: Mail", mail.as_bytes(), NOW)
            result = deliver(store, mailer, NOW, config.notify)
            assert result.dead == [subject]
            assert result.sent == ["[FIRING:1] other: Mail"]
        assert [str(m["Subject"]) for m in smtp_server.messages] == ["[FIRING:1] other: Mail"]


def test_a_version_4_database_keeps_its_queued_mail(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript((Path(__file__).parent / "fixtures/state/schema-v4.sql").read_text())
    db.commit()
    db.close()
    with AlertStore(path) as store:
        [old] = store.queued()
        assert (old.subject, old.attempts, old.last_error, old.receiver) == (
            "[FIRING:1] g: Old",
            1,
            "connection refused",
            None,
        )
        version = store._db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == "6"
        store.save_notify_log({("hook", "{}:{}"): (["fp"], NOW)})  # the new table works
        assert store.notify_log() == {("hook", "{}:{}"): (frozenset({"fp"}), NOW)}
        store.enqueue("g", "s", b"{}", NOW, receiver="hook")
        assert [m.receiver for m in store.queued()] == [None, "hook"]
    with AlertStore(path) as store:  # opening again changes nothing
        assert len(store.queued()) == 2


def _queue_apprise(config: Config, store: AlertStore) -> str:
    labels = {"alertname": "HostDown", "instance": "web1"}
    down = AlertState(
        fingerprint("services", labels), "services", "HostDown", labels, {}, FIRING, 1.0, NOW
    )
    notification = Notification("services", (down,), (), (down,))
    [routed], _ = plan_routes(build_tree(config), [notification], {}, NOW)
    body = apprise_body(routed, MailRenderer(config), NOW)
    store.enqueue("services", notification.subject, body, NOW, receiver="chat")
    return notification.subject


def test_apprise_that_fails_is_retried_and_delivered_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RecordingServer(statuses=(500, 200)) as chat:
        monkeypatch.setenv("CHAT_URL", chat.url.replace("http://", "json://") + "/chat")
        notify = {
            "receiver": "chat",
            "receivers": [{"name": "chat", "apprise": {"url": {"env": "CHAT_URL"}}}],
        }
        config = _config(tmp_path, "http://127.0.0.1:9", notify, retry_interval="1m")
        mailer = Mailer(config.smtp)
        with AlertStore(config.state.path) as store:
            subject = _queue_apprise(config, store)
            first = deliver(store, mailer, NOW, config.notify)
            assert first.errors == [
                f"{subject!r} to receiver chat queued for retry: "
                "Apprise could not deliver the notification"
            ]
            assert deliver(store, mailer, NOW + 61, config.notify).sent == [subject]
            assert deliver(store, mailer, NOW + 3600, config.notify).sent == []
        [accepted] = chat.accepted
        assert json.loads(accepted)["title"] == subject
        assert len(chat.requests) == 2


def test_a_webhook_that_never_answers_is_retried_after_its_timeout(tmp_path: Path) -> None:
    with SilentServer() as silent:
        notify = {
            "receiver": "hook",
            "receivers": [{"name": "hook", "webhook": {"url": silent.url, "timeout": "1s"}}],
        }
        config = _config(tmp_path, "http://127.0.0.1:9", notify)
        with AlertStore(config.state.path) as store:
            _queue_webhook(config, store)
            started = time.monotonic()
            result = deliver(store, Mailer(config.smtp), NOW, config.notify)
            assert time.monotonic() - started < within(5)
            assert result.sent == []
            assert result.errors[0].endswith("queued for retry: webhook unreachable: ReadTimeout")
            assert len(store.queued()) == 1
