"""``stackwatch watchdog`` against a real alert database and a real SMTP server (aiosmtpd): the
groups' evaluations are written by the alerter's store, the mail goes through the outbox, the
Prefect API is a port nothing listens on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from alerter.store import AlertStore
from alerter.watchdog import RESUMED, STOPPED
from alerter.watchdog_health import Liveness, serve_health
from alerter.watchdog_run import look, probe_prefect
from stackwatch.catalog import BY_NAME
from stackwatch.cli import main
from tests.support.procs import free_port, wait_for
from tests.support.smtp import SmtpServer
from tests.support.timing import within
from tests.support.watchdog import watchdog_config


def _subjects(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]).strip() for m in smtp.messages]


@pytest.fixture(autouse=True)
def _no_prefect_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_stopped_checks_are_mailed_once_and_resumed_once_across_restarts(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = watchdog_config(tmp_path, smtp_server, None)
    now = time.time()
    system = BY_NAME["system-health-check"].interval  # 5m
    with AlertStore(config.state.path) as store:
        store.record_evaluation("system-health-check", now, success=True)
        store.record_evaluation("services-health-check", now, success=True)
    first = look(config, now=now + 60)
    assert [w.group for w in first.watched] == ["system-health-check", "services-health-check"]
    assert (first.decision.mail, smtp_server.messages) == (None, [])

    stale = look(config, now=now + 3 * system + 1)
    assert stale.decision.mail == STOPPED
    [mail] = smtp_server.messages
    subject = str(mail["Subject"])
    assert subject.startswith("[WATCHDOG] checks stopped: system-health-check, last run at ")
    assert subject.endswith("Prefect API: reachable")
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "system-health-check: last run at " in text
    assert "scheduled every 5m" in text

    # later looks, each a new process's first (the state is in the database): no second mail
    assert look(config, now=now + 3 * system + 120).decision.mail is None
    assert len(smtp_server.messages) == 1

    with AlertStore(config.state.path) as store:
        store.record_evaluation("system-health-check", now + 3 * system + 150, success=True)
    resumed = look(config, now=now + 3 * system + 180)
    assert resumed.decision.mail == RESUMED
    assert _subjects(smtp_server)[1] == "[WATCHDOG] checks resumed, Prefect API: reachable"
    assert look(config, now=now + 3 * system + 240).decision.mail is None
    assert len(smtp_server.messages) == 2
    with AlertStore(config.state.path) as store:
        assert store.queued_count() == 0  # both went through the outbox and were sent


def test_an_unreachable_prefect_api_is_named_after_its_grace_time(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = watchdog_config(tmp_path, smtp_server, f"http://127.0.0.1:{free_port()}/api")
    started = time.monotonic()
    assert probe_prefect(config) is False
    assert time.monotonic() - started < within(3.0)
    now = time.time()
    with AlertStore(config.state.path) as store:
        store.record_evaluation("system-health-check", now, success=True)
        store.record_evaluation("services-health-check", now, success=True)
    assert look(config, now=now).decision.mail is None
    assert look(config, now=now + 119).decision.mail is None
    alarm = look(config, now=now + 121)
    assert alarm.decision.mail == STOPPED
    assert alarm.decision.stale == ()
    assert _subjects(smtp_server) == [
        "[WATCHDOG] checks stopped: none stale yet, last run at never,"
        " Prefect API: unreachable for 2 min"
    ]


def test_the_command_looks_once_and_explains_itself(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = watchdog_config(tmp_path, smtp_server, None)
    path = tmp_path / "stackwatch.yml"
    path.write_text(config.model_dump_json(by_alias=True, exclude_none=True))
    with pytest.raises(SystemExit):
        main(["watchdog", "--help"])
    assert "never runs a\ncheck itself" in capsys.readouterr().out
    assert main(["watchdog", "--config", str(path), "--once"]) == 0
    out = capsys.readouterr().out
    assert "system-health-check: every 5m, last None STALE" not in out
    assert "Prefect API: reachable; mail: none" in out


def test_health_answers_200_only_while_looks_are_recent() -> None:
    liveness = Liveness(max_age=0.5)
    server = serve_health(f"127.0.0.1:{free_port()}", liveness)
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    try:
        assert requests.get(url, timeout=5).status_code == 503  # no look yet
        liveness.looked()
        assert requests.get(url, timeout=5).status_code == 200
        wait_for(
            lambda: requests.get(url, timeout=5).status_code == 503 or None,
            within(5),
            "the look to grow old",
        )
    finally:
        server.shutdown()
        server.server_close()


def test_groups_named_after_no_flow_are_watched_at_their_flows_interval(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = watchdog_config(tmp_path, smtp_server, None)
    more = tmp_path / "more.yml"
    more.write_text(
        "groups:\n"
        "  - name: databases\n    rules:\n      - {alert: C, expr: 'vector(0) > 1'}\n"
        "  - name: web\n    rules:\n      - {alert: D, expr: 'vector(0) > 1'}\n"
    )
    config = config.model_copy(
        update={
            "rules": config.rules.model_copy(
                update={
                    "paths": [*config.rules.paths, str(more)],
                    "flows": {"web": "services-health-check"},
                }
            )
        }
    )
    now = time.time()
    with AlertStore(config.state.path) as store:
        for group in ("system-health-check", "services-health-check", "databases", "web"):
            store.record_evaluation(group, now, success=True)
    watched = {w.group: w.interval for w in look(config, now=now + 60).watched}
    assert watched == {
        "system-health-check": BY_NAME["system-health-check"].interval,
        "services-health-check": BY_NAME["services-health-check"].interval,
        "web": BY_NAME["services-health-check"].interval,
        "databases": BY_NAME["threshold-alert-check"].interval,
    }
    # each by its own flow's interval: after 3 x 10m web is stale, databases (15m) is not
    stale = look(config, now=now + 3 * BY_NAME["services-health-check"].interval + 1)
    assert [w.group for w in stale.decision.stale] == [
        "system-health-check",
        "services-health-check",
        "web",
    ]
