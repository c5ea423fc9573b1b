"""The daily report's check freshness, from a real alert database: each group's last
evaluation, the stale ones flagged at the top of the report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.reports.document import Document, render_text
from stackwatch.reports.sections import checks
from stackwatch.reports.sections.gate import Context, gate
from tests.support.watchdog import TWO_CHECK_GROUPS

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def _context(tmp_path: Path) -> Context:
    rules = tmp_path / "rules.yml"
    rules.write_text(TWO_CHECK_GROUPS)
    config = Config.model_validate(
        {"state": {"path": str(tmp_path / "state.db")}, "rules": {"paths": [str(rules)]}}
    )
    return Context(config, NOW, "Prometheus: not needed here", None)


def test_stale_groups_are_flagged_at_the_top(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    now = NOW.timestamp()
    with AlertStore(ctx.config.state.path) as store:
        store.record_evaluation("system-health-check", now - 120, success=True)
        store.record_evaluation("services-health-check", now - 3 * 600 - 60, success=False)
    section = gate(checks.SECTION, ctx)
    assert ctx.attention == [
        "checks stale (not evaluated for over 3 times their interval): services-health-check"
    ]
    [table] = section.tables
    assert [row[:5] for row in table.rows] == [
        ["system-health-check", "2027-01-15 07:58:00 UTC", "2 min", "5m", "ok"],
        ["services-health-check", "2027-01-15 07:29:00 UTC", "31 min", "10m", "failed"],
    ]
    text = render_text(Document("Daily report", "", sections=[section], attention=ctx.attention))
    assert text.index("Needs attention:") < text.index("services-health-check")


def test_all_fresh_needs_no_attention_and_no_database_is_one_line(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    section = gate(checks.SECTION, ctx)
    assert section.unavailable == f"Checks: no alert database at {ctx.config.state.path} yet"
    now = NOW.timestamp()
    with AlertStore(ctx.config.state.path) as store:
        store.record_evaluation("system-health-check", now - 60, success=True)
        store.record_evaluation("services-health-check", now - 60, success=True)
    ctx = _context(tmp_path)
    section = gate(checks.SECTION, ctx)
    assert ctx.attention == []
    assert section.lines == ["Every check group was evaluated on schedule."]
