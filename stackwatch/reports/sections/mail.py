"""Mail delivery: alert mail that died in the last 24 h, and mail still waiting for a retry."""

from __future__ import annotations

from datetime import timedelta

from alerter.store import AlertStore
from stackwatch.format import human_duration, stamp
from stackwatch.reports.document import Section, Table
from stackwatch.reports.sections.gate import Context, SectionSpec, Unavailable
from stackwatch.reports.sections.source import WINDOW

TITLE = "Mail delivery"
ANSWER_LIMIT = 300  # characters of a server's answer a row shows


def _answers(refusals: dict[str, str]) -> str:
    """One answer when every recipient got the same, else each recipient's."""
    answers = set(refusals.values())
    if len(answers) == 1:
        text = answers.pop()
    else:
        text = "; ".join(f"{address}: {answer}" for address, answer in refusals.items())
    return text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 1] + "…"


def build(ctx: Context) -> Section:
    section = Section(TITLE)
    path = ctx.config.state.path
    if not path.exists():
        raise Unavailable(f"Mail delivery: no alert database at {path} yet")
    now = ctx.now
    since = now - timedelta(seconds=WINDOW)
    with AlertStore(path) as store:
        dead = store.dead()
        queued = store.queued()
    recent = [m for m in dead if m.dead_at is not None and since <= m.dead_at <= now]
    waiting = [m for m in queued if m.last_error is not None]
    if recent:
        names = ", ".join(dict.fromkeys(m.subject for m in recent))
        ctx.attention.append(f"{len(recent)} alert mail(s) not delivered (dead): {names}")
        table = Table(
            ["When", "Subject", "Recipients", "Server's answer"],
            caption="Dead mail: refused for good or given up, never sent again",
        )
        for mail in sorted(recent, key=lambda m: m.dead_at or now):
            refusals = mail.refusals()
            table.add(
                [stamp(mail.dead_at), mail.subject, ", ".join(refusals) or "—", _answers(refusals)],
                bad=True,
            )
        section.tables.append(table)
        section.lines.append(f"{len(recent)} alert mail(s) dead in the last 24 h.")
    else:
        section.lines.append("No alert mail died in the last 24 h.")
    if older := len(dead) - len(recent):
        section.lines.append(
            f"{older} older dead mail(s) kept; `stackwatch alerts list` shows them all."
        )
    if waiting:
        oldest = min(waiting, key=lambda m: m.created_at)
        age = human_duration((now - oldest.created_at).total_seconds())
        line = f"{len(waiting)} mail(s) waiting for a retry, the oldest queued {age} ago"
        ctx.attention.append(line)
        section.lines.append(f"{line} (its last answer: {oldest.last_error}).")
    else:
        section.lines.append("No mail is waiting for a retry.")
    return section


SECTION = SectionSpec(TITLE, build)
