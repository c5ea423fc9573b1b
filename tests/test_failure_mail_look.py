"""The flow-failure mail as the person on call reads it: which flow and deployment, the run's
link, the error's last lines wrapped, how many attempts, when it runs next; a short subject."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from prefect.client.schemas.objects import FlowRun
from prefect.states import Failed

from flows.hooks import RunFacts, failure_message, failure_subject
from stackwatch.format import cut_words, last_lines
from stackwatch.reports.cleanup import CleanupError

LONG_ERROR = (
    "Prometheus at http://127.0.0.1:9090 answered 503 Service Unavailable to the query of "
    "rule HighCpuUsage while evaluating threshold-alert-check; retrying did not help"
)


def _run() -> FlowRun:
    return FlowRun(
        id=uuid4(),
        name="brisk-otter",
        flow_id=uuid4(),
        run_count=3,
        start_time=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
    )


def test_subject_is_cut_at_a_word() -> None:
    subject = failure_subject("FAILED", "threshold-alert-check", LONG_ERROR + "\nsecond line")
    assert subject == (
        "[FAILED] threshold-alert-check: Prometheus at http://127.0.0.1:9090 answered 503 "
        "Service Unavailable to the query of rule HighCpuUsage while evaluating "
        "threshold-alert-check; retrying did…"
    )
    assert failure_subject("FAILED", "f", "disk full") == "[FAILED] f: disk full"
    assert cut_words("a" * 50, 20) == "a" * 19 + "…"  # one long word: cut inside it
    # Prefect's preamble goes; the class name only of stackwatch's own errors
    raised = "Flow run encountered an exception: "
    own = f"{CleanupError.__name__}: 1 of 8 steps failed"
    assert failure_subject("FAILED", "f", raised + own) == ("[FAILED] f: 1 of 8 steps failed")
    assert failure_subject("FAILED", "f", raised + "KeyError: 'x'") == "[FAILED] f: KeyError: 'x'"


def test_failure_mail_has_every_fact_and_the_error_wrapped() -> None:
    lines = "\n".join(f'  File "flows/checks.py", line {n}, in step' for n in range(30))
    state = Failed(message=f"{LONG_ERROR}\n{lines}\nRuntimeError: the last line")
    facts = RunFacts("threshold-alert-check", datetime(2026, 11, 27, 6, 15, tzinfo=UTC))
    subject, text, html = failure_message(
        "threshold-alert-check", _run(), state, "http://prefect/runs/1", facts=facts
    )
    assert subject.startswith("[FAILED] threshold-alert-check: Prometheus at")
    for fact in (
        "Flow:       threshold-alert-check",
        "Deployment: threshold-alert-check",
        "Run:        brisk-otter",
        "Started:    2026-11-27 06:00 UTC",
        "Attempts:   3",
        "Next run:   2026-11-27 06:15 UTC",
        "Link:       http://prefect/runs/1",
        "    RuntimeError: the last line",
        "    … (17 lines before)",
    ):
        assert fact in text
    assert "line 0," not in text  # only the last lines
    assert '<td style="word-break:break-word;overflow-wrap:anywhere;">3</td>' in html
    assert "2026-11-27 06:15 UTC" in html
    assert 'href="http://prefect/runs/1"' in html
    pre = html.split('<pre style="', 1)[1]
    assert pre.startswith("margin:4px 0;")
    assert "white-space:pre-wrap;" in pre.split('"', 1)[0]  # long lines wrap, not overflow
    assert "RuntimeError: the last line</pre>" in pre


def test_a_run_outside_a_deployment_says_so() -> None:
    _, text, _ = failure_message("f", _run(), Failed(message="boom"), "http://x")
    assert "Deployment: none (run by hand)" in text
    assert "Next run:   none scheduled" in text


def test_last_lines_keep_the_end() -> None:
    assert last_lines("a\nb\nc", 2) == "… (1 line before)\nb\nc"
    assert last_lines("a\nb", 5) == "a\nb"


def test_the_error_block_says_the_error_without_prefects_preamble() -> None:
    message = "Flow run encountered an exception: CleanupError: 1 of 8 cleanup steps failed"
    _, text, html = failure_message("f", _run(), Failed(message=message), "http://x")
    assert "Error:\n    1 of 8 cleanup steps failed\n" in text
    assert "FailedRun" not in text
    assert "1 of 8 cleanup steps failed</pre>" in html
