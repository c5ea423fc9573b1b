"""No secret ever shows: every message, mail, file and metric a run produces is searched for the
secrets the config names (in plain text, base64 as HTTP and SMTP auth send them, URL-quoted).

A real Prometheus asks for basic auth (its web config), a real SMTP server (aiosmtpd) asks for
a login; the run: a check with the right and the wrong Prometheus password, a check whose SMTP
login is refused, a check writing to the outbox, the daily report, service probes with basic
auth, and a config with credentials in its URL.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporter.collectors.services import ServicesCollector
from exporter.exposition import TextRenderer
from stackwatch.cli import main
from stackwatch.config import load_config
from tests.support.http import PROMETHEUS_TEXT, LocalServer, fixed
from tests.support.prometheus import PrometheusServer
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

RULES = Path(__file__).parent / "fixtures" / "rules" / "alerting.yml"
# distinctive values, so a hit is a leak and nothing else
PROMETHEUS_PASSWORD = "prom-Zq81-sekrit"  # noqa: S105
WRONG_PASSWORD = "wrong-Kx27-sekrit"  # noqa: S105
SMTP_PASSWORD = "smtp-Vb55-sekrit"  # noqa: S105
SECRETS = {
    "SW_PROMETHEUS_PASSWORD": PROMETHEUS_PASSWORD,
    "SW_WRONG_PASSWORD": WRONG_PASSWORD,
    "SW_SMTP_PASSWORD": SMTP_PASSWORD,
}


def encodings(user: str, secret: str) -> list[bytes]:
    """The forms a secret travels in: plain, URL-quoted, and base64 alone, as HTTP basic auth
    (``user:secret``) and as SMTP AUTH PLAIN (``\\0user\\0secret``) send it."""
    forms = [secret, urllib.parse.quote(secret)]
    for raw in (secret, f"{user}:{secret}", f"\0{user}\0{secret}"):
        forms.append(base64.b64encode(raw.encode()).decode())
    return [form.encode() for form in forms]


@pytest.fixture
def smtp_with_login() -> Iterator[SmtpServer]:
    server = SmtpServer(login=("alerts", SMTP_PASSWORD)).start()
    yield server
    server.stop()


def test_no_secret_in_anything_a_run_produces(
    tmp_path: Path,
    smtp_with_login: SmtpServer,
    start_prometheus: Callable[..., PrometheusServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("STACKWATCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    smtp = smtp_with_login
    endpoint = LocalServer(
        fixed(200, b'test_cpu_ratio{host="web-1"} 0.95\n'), content_type=PROMETHEUS_TEXT
    ).start()
    produced: list[tuple[str, bytes]] = []
    try:
        prometheus = start_prometheus(
            [endpoint.url.removeprefix("http://")], basic_auth=("stackwatch", PROMETHEUS_PASSWORD)
        )
        prometheus.wait_for_series("test_cpu_ratio > 0.9")

        def config(name: str, prometheus_secret: str, smtp: str) -> str:
            path = tmp_path / f"{name}.yml"
            auth = f"{{username: stackwatch, password: {{env: {prometheus_secret}}}}}"
            path.write_text(
                f"prometheus:\n  url: {prometheus.url}\n  retries: 0\n  basic_auth: {auth}\n"
                f"services:\n  - name: prometheus\n    url: {prometheus.url}/-/healthy\n"
                f"    basic_auth: {auth}\n"
                f"{smtp}\n"
                f"rules: {{paths: ['{RULES}']}}\n"
                f"state: {{path: {name}/stackwatch.db}}\n"
                f"exporter: {{collectors: {{docker: false}}}}\n"
            )
            return str(path)

        login = "  username: alerts\n  password: {env: %s}\n"
        server = f"smtp:\n  host: {smtp.host}\n  port: {smtp.port}\n  tls: none\n  to: [o@x.test]\n"
        good = config("good", "SW_PROMETHEUS_PASSWORD", server + login % "SW_SMTP_PASSWORD")
        wrong = config("wrong", "SW_WRONG_PASSWORD", server + login % "SW_SMTP_PASSWORD")
        refused = config("refused", "SW_PROMETHEUS_PASSWORD", server + login % "SW_WRONG_PASSWORD")
        outbox = config("outbox", "SW_PROMETHEUS_PASSWORD", "smtp: {outbox_dir: outbox}")
        in_url = tmp_path / "in-url.yml"
        in_url.write_text(
            f"prometheus: {{url: 'http://stackwatch:{PROMETHEUS_PASSWORD}@127.0.0.1:9090'}}\n"
        )
        group = ["--group", "threshold-test"]

        assert main(["config", "check", "--config", str(in_url)]) == 2
        assert main(["alerts", "evaluate", "--config", wrong, *group]) == 1  # 401
        assert main(["alerts", "evaluate", "--config", refused, *group]) == 1  # login refused
        assert main(["alerts", "list", "--config", refused]) == 0
        assert main(["alerts", "evaluate", "--config", good, *group]) == 0
        assert main(["alerts", "evaluate", "--config", outbox, *group]) == 0
        assert main(["report", "daily", "--config", good, "-o", str(tmp_path / "r.html")]) == 0

        for path in (good, wrong):
            services = load_config(path).services
            collector = ServicesCollector(services, interval=60)
            for service in services:
                collector.probe_one(service)
            produced.append((f"metrics of {path}", TextRenderer().render(collector.collect())))
    finally:
        endpoint.close()

    out, err = capsys.readouterr()
    # the run did what it should: a 401, a refused login, a firing mail, a report, an .eml
    assert "401" in err, err
    assert "login" in (out + err).lower()
    subjects = [m["Subject"] for m in smtp.messages]
    assert "[FIRING:1] threshold-test: HighCpuUsage" in subjects
    assert any(s.startswith("[stackwatch] Daily summary") for s in subjects)
    assert list((tmp_path / "outbox").glob("*.eml"))
    # the probe with the right password succeeds, the one with the wrong one is refused
    [(_, right), (_, refused_probe)] = produced
    assert b'probe_http_status_code{service="prometheus"' in right
    assert b"} 200" in right
    assert b"} 401" in refused_probe

    produced += [("stdout", out.encode()), ("stderr", err.encode())]
    produced += [("logs", caplog.text.encode())]
    produced += [(f"mail {m['Subject']}", m.as_bytes()) for m in smtp.messages]
    produced += [(str(p), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()]
    produced += [(str(p), p.read_bytes()) for p in tmp_path.parent.rglob("*prometheus*/*.log")]
    forms = {
        form: secret
        for user, secret in [
            ("stackwatch", PROMETHEUS_PASSWORD),
            ("stackwatch", WRONG_PASSWORD),
            ("alerts", SMTP_PASSWORD),
            ("alerts", WRONG_PASSWORD),
        ]
        for form in encodings(user, secret)
    }
    # the config files name the variables, never the values: only the URL one holds a secret
    leaks = [
        f"{where} holds {secret!r} as {form!r}"
        for where, data in produced
        if not where.endswith("in-url.yml")
        for form, secret in forms.items()
        if form in data
    ]
    assert leaks == []
