"""The alert mail as a person reads it: values in their unit, "since" with how long, container
ids as ``docker ps`` shows them, labels every alert shares said once, no exotic glyph."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from alerter.check_result import AlertStatus, CheckResult
from alerter.model import FIRING, AlertState
from alerter.notify import MailRenderer, Notification
from stackwatch.config import Config
from stackwatch.format import by_unit, lasting, seconds_text, short_ids

NOW = 1_800_000_000.0
ID_A = "3f4e5d6c7b8a" + "0" * 52
ID_B = "0123456789ab" + "f" * 52
LONG = "com.docker.compose.project.working_dir=/srv/" + "very-long-folder-name/" * 4


def _restarting(name: str, container_id: str, value: float) -> AlertState:
    labels = {
        "alertname": "ContainerRestarting",
        "name": name,
        "id": f"/docker/{container_id}",
        "instance": "web-1:9810",
        "job": "stackwatch",
        "compose": LONG,
    }
    return AlertState(
        f"fp-{name}",
        "docker-restart-monitor",
        "ContainerRestarting",
        labels,
        {"summary": f"Container {name} restarted 9 times in the last hour"},
        FIRING,
        value,
        NOW - 12 * 60 - 5,
        NOW - 60,
        expr="increase(container_restarts_total[1h]) > 3",
    )


def _mail() -> tuple[str, str]:
    renderer = MailRenderer(Config(), units={"ContainerRestarting": "count"})
    alerts = (_restarting("flaky", ID_A, 8.788), _restarting("worker", ID_B, 4.2))
    return renderer.render(Notification("docker-restart-monitor", alerts, ()), NOW)


def test_values_read_in_their_unit() -> None:
    assert by_unit(0.904561, "ratio") == "90.5 %"
    assert by_unit(8.788, "count") == "9"
    assert by_unit(1610612736, "bytes") == "1.5 GiB"
    assert by_unit(0.0734, "seconds") == "73.4 ms"
    assert by_unit(-0.0734, "seconds") == "-73.4 ms"
    assert by_unit(1925, "seconds") == "32 min"
    assert by_unit(0.93, "") == "0.93"
    assert by_unit(None, "ratio") == "—"
    assert seconds_text(0) == "0 s"
    assert lasting(0.0004961) == "for less than 1 s"
    assert lasting(12 * 60 + 5) == "for 12 min"
    assert lasting(3 * 3600 + 300) == "for 3 h 5 min"


def test_container_ids_are_cut_as_docker_ps_cuts_them() -> None:
    assert short_ids(f"/docker/{ID_A}") == "/docker/3f4e5d6c7b8a"
    assert (
        short_ids(f"/system.slice/docker-{ID_A}.scope") == "/system.slice/docker-3f4e5d6c7b8a.scope"
    )
    assert short_ids("3f4e5d6c7b8a") == "3f4e5d6c7b8a"  # already short
    assert short_ids(ID_A + "0") == ID_A + "0"  # 65 hex digits: not an id


def test_alert_mail_html() -> None:
    _, html = _mail()
    # the value as a count, the moment with how long it has lasted
    assert '<td style="word-break:break-word;overflow-wrap:anywhere;">9</td>' in html
    assert "2027-01-15 07:47 UTC, for 12 min" in html
    # what both alerts share, once, above them
    assert html.count("Every alert below has") == 1
    assert "instance=web-1:9810" in html
    # the cards show the short id; the details keep the full one
    cards, details = html.split("Details</h2>")
    assert f'title="/docker/{ID_A}">/docker/3f4e5d6c7b8a</code>' in cards
    assert cards.count(ID_A) == 1  # only in the title
    assert f"/docker/{ID_A}" in details
    # a long label is cut, its full value in the title
    assert f'title="{LONG}"' in html
    # only characters every mail font has: no emoji, no dingbats
    assert not re.search(r"[\u2600-\u27bf\U0001f000-\U0001ffff]|&#x1F|&#9888;|&#10004;", html)


def test_alert_mail_text_reads_alone() -> None:
    text, _ = _mail()
    assert "\n\nEvery alert below has:\n  compose: com.docker" in text
    assert "  job: stackwatch\n\nFIRING (2)\n" in text
    assert "  Value:  9\n" in text
    assert "  Since:  2027-01-15 07:47 UTC, for 12 min\n" in text
    assert f"  id: /docker/{ID_A}\n" in text
    assert text.count("instance: web-1:9810") == 1  # said once, above


def test_prefect_artifact_table_lists_what_differs() -> None:
    started = datetime(2026, 12, 1, 20, 10, 6, tzinfo=UTC)
    result = CheckResult(
        group="docker-restart-monitor",
        alerts=[
            AlertStatus(
                "ContainerRestarting",
                {"alertname": "ContainerRestarting", "id": f"/docker/{ID_A}", "job": "sw"},
                FIRING,
                8.788,
                started,
                "Container flaky restarted 9 times in the last hour",
                unit="count",
            ),
            AlertStatus(
                "ContainerRestarting",
                {"alertname": "ContainerRestarting", "id": f"/docker/{ID_B}", "job": "sw"},
                FIRING,
                4.2,
                started,
                "Container worker restarted 4 times in the last hour",
                unit="count",
            ),
        ],
        sent=[],
        queued=0,
        blind=False,
        errors=[],
        evaluated_at=datetime(2026, 12, 1, 20, 22, 30, tzinfo=UTC),
    )
    lines = result.to_markdown().splitlines()
    assert lines[2] == "Every alert below has job=sw."
    assert lines[6] == (
        "| ContainerRestarting | firing | id=/docker/3f4e5d6c7b8a | 9 "
        "| 2026-12-01 20:10 UTC, for 12 min | Container flaky restarted 9 times in the last hour |"
    )


def test_report_label_cells_fit_and_keep_the_full_value_in_a_title() -> None:
    from stackwatch.reports.document import Cut, Document, Section, Table, render_html
    from stackwatch.reports.sections.alerts import labels_cell, shared

    labels = [
        {"alertname": "ContainerRestarting", "id": f"/docker/{ID_A}", "compose": LONG, "job": "sw"},
        {"alertname": "ContainerRestarting", "id": f"/docker/{ID_B}", "compose": LONG, "job": "sw"},
    ]
    common = shared(labels)
    assert common == {"compose": LONG, "job": "sw"}
    assert labels_cell(labels[0], common) == "id=/docker/3f4e5d6c7b8a"
    cell = labels_cell({"id": f"/docker/{ID_A}", "compose": LONG}, {})
    assert isinstance(cell, Cut)
    assert len(cell.text) == 60
    assert cell.text.endswith("…")
    assert cell.full == f"compose={LONG}, id=/docker/{ID_A}"
    table = Table(["Alert", "Labels"], wrap={1})
    table.add(["ContainerRestarting", cell])
    doc = Document("t", "s", sections=[Section("Alerts", tables=[table])])
    html = render_html(doc)
    assert f'<span title="compose={LONG}, id=/docker/{ID_A}">{cell.text}</span>' in html
