"""A /metrics endpoint whose series the test sets, for a real Prometheus to scrape.

The alerter's integration tests set a value, wait until Prometheus's latest scrape has it
(``settle``) and then evaluate rules against that Prometheus.
"""

from __future__ import annotations

from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.http import PROMETHEUS_TEXT, LocalServer
from tests.support.procs import wait_for
from tests.support.prometheus import PrometheusServer

# the rules the alerter's integration tests evaluate
RULES = Path(__file__).resolve().parent.parent / "fixtures" / "rules" / "alerting.yml"


class MetricsEndpoint:
    """A /metrics endpoint serving exactly the lines the test sets; ``down`` answers 503."""

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}
        self.down = False
        self.server = LocalServer(self._answer, content_type=PROMETHEUS_TEXT)
        self.target = self.server.url.removeprefix("http://")

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        if self.down:
            return 503, b""
        return 200, "".join(f"{line}\n" for line in self.lines.values()).encode()

    def set(self, series: str, value: float) -> None:
        self.lines[series] = f"{series} {value}"


def settle(prometheus: PrometheusServer, expr: str, present: bool = True) -> None:
    """Wait until Prometheus's latest scrape agrees with what the endpoint now serves."""
    wait_for(
        lambda: bool(prometheus.query(expr)) == present,
        20,
        f"{expr} to {'return' if present else 'stop returning'} data",
    )


def mail_parts(message: EmailMessage) -> tuple[str, str]:
    """The text and the HTML body of a multipart/alternative mail; both must be there."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def cli_config(tmp_path: Path, prometheus: PrometheusServer, *rule_files: Path) -> list[str]:
    """``-c FILE`` for the CLI: ``prometheus`` with ``rule_files``, mail to an outbox folder."""
    path = tmp_path / "stackwatch.yml"
    path.write_text(
        f"prometheus:\n  url: {prometheus.url}\n  retries: 0\n"
        f"smtp:\n  outbox_dir: {tmp_path / 'outbox'}\n  to: ops@stackwatch.test\n"
        f"rules:\n  paths: [{', '.join(str(f) for f in rule_files)}]\n"
        f"state:\n  path: {tmp_path / 'state.db'}\n"
    )
    return ["-c", str(path)]
