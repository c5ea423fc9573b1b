"""The weekly cleanup: Docker prune, old indices, old Loki data, rotated logs, then a report.

Every step runs on its own: one failing is recorded in its row of the report, in one readable
line, and the next one still runs; the run as a whole then counts as failed
(``CleanupError``). Free space per filesystem is measured before and after a real run; a dry
run says what it would remove, in the same report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import docker.errors
import requests

from alerter.store import AlertStore
from stackwatch.config import Config
from stackwatch.config.cleanup import DEFAULT_LOG_PATTERNS
from stackwatch.errors import StackwatchError
from stackwatch.format import day, error_line, format_duration, human_bytes, stamp
from stackwatch.mail import Mailer
from stackwatch.mountstats import MountStats
from stackwatch.reports.docker_prune import DockerPruner, PruneResult
from stackwatch.reports.document import (
    Document,
    Section,
    Table,
    render_html,
    render_markdown,
    render_text,
)
from stackwatch.reports.elasticsearch import ElasticsearchError, delete_old_indices
from stackwatch.reports.freespace import FilesystemSpace, filesystem_space
from stackwatch.reports.logfiles import remove_old_logs
from stackwatch.reports.loki import LokiError, truncate_old_data

log = logging.getLogger(__name__)

MAX_LISTED = 20  # removed items named per step; the rest are counted
LOG_STEP = "Old log files"


class CleanupError(StackwatchError):
    """Some cleanup steps failed (after every step ran): the run ends failed."""


@dataclass
class CleanupStep:
    """One step's outcome: what it removed (or would), the bytes freed, and any error."""

    name: str
    ok: bool = True
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    error: str | None = None
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class CleanupReport:
    subject: str
    markdown: str
    text: str
    html: str
    steps: list[CleanupStep]
    dry_run: bool
    filesystems_before: list[FilesystemSpace] = field(default_factory=list)
    filesystems_after: list[FilesystemSpace] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(step.bytes_freed for step in self.steps)

    @property
    def failed(self) -> list[CleanupStep]:
        return [step for step in self.steps if not step.ok]

    def raise_for_failed_steps(self) -> None:
        """Raise ``CleanupError`` naming the failed steps, if any failed."""
        if not self.failed:
            return
        by_error: dict[str, list[str]] = {}
        for step in self.failed:
            by_error.setdefault(step.error or "failed", []).append(step.name)
        raise CleanupError(
            f"{len(self.failed)} of {len(self.steps)} cleanup steps failed: "
            + "; ".join(f"{', '.join(names)} ({error})" for error, names in by_error.items())
        )


# --- steps ---------------------------------------------------------------------------------


def _from_prune(name: str, result: PruneResult) -> CleanupStep:
    return CleanupStep(
        name, removed=result.removed, bytes_freed=result.bytes_freed, notes=result.notes
    )


def docker_steps(config: Config, dry_run: bool) -> list[CleanupStep]:
    settings = config.cleanup.docker
    kinds: list[tuple[str, Callable[[DockerPruner], Callable[[bool], PruneResult]]]] = [
        ("Docker: stopped containers", lambda p: p.containers),
        ("Docker: dangling images", lambda p: p.images),
        ("Docker: unused networks", lambda p: p.networks),
        ("Docker: build cache", lambda p: p.build_cache),
    ]
    if settings.volumes:
        kinds.append(("Docker: unused volumes", lambda p: p.volumes))
    if not settings.enabled:
        return [CleanupStep("Docker", skipped="disabled (cleanup.docker.enabled: false)")]
    try:
        pruner = DockerPruner.from_config(config)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        reason = f"cannot connect to Docker at {config.docker.host}: {error_line(exc)}"
        return [CleanupStep(name, ok=False, error=reason) for name, _ in kinds]
    steps = []
    try:
        for name, method in kinds:
            try:
                steps.append(_from_prune(name, method(pruner)(dry_run)))
            except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
                log.warning("%s failed: %s", name, exc)
                steps.append(CleanupStep(name, ok=False, error=error_line(exc)))
    finally:
        pruner.close()
    if not settings.volumes:
        steps[0].notes.append("Volumes are never pruned unless cleanup.docker.volumes is true.")
    return steps


def elasticsearch_step(config: Config, now: datetime, dry_run: bool) -> CleanupStep:
    settings = config.cleanup.elasticsearch
    step = CleanupStep("Elasticsearch: old indices")
    if settings is None:
        step.skipped = "not configured (cleanup.elasticsearch.url)"
        return step
    try:
        result = delete_old_indices(settings, now=now, dry_run=dry_run)
    except (ElasticsearchError, StackwatchError) as exc:
        step.ok, step.error = False, error_line(exc)
        return step
    step.removed = [i.name for i in result.deleted]
    step.bytes_freed = result.bytes_freed
    kept_user = [d for d in result.decisions if not d.delete and not d.index.name.startswith(".")]
    step.notes.append(
        f"{len(result.decisions)} indices seen, {len(result.candidates)} older than "
        f"{format_duration(settings.retention)} with prefix {', '.join(settings.prefixes)}; "
        f"{len(kept_user)} other non-system indices kept."
    )
    protected = [
        d
        for d in result.decisions
        if any(word in d.reason for word in ("managed", "data stream", "alias"))
    ]
    for decision in protected[:10]:
        step.notes.append(f"kept {decision.index.name}: {decision.reason}")
    if result.errors:
        step.ok = False
        step.error = "; ".join(result.errors)
    return step


def loki_step(config: Config, now: datetime, dry_run: bool) -> CleanupStep:
    settings = config.cleanup.loki
    step = CleanupStep("Loki: old log data")
    if settings is None:
        step.skipped = "not configured (cleanup.loki.url)"
        return step
    try:
        result = truncate_old_data(settings, now=now, dry_run=dry_run)
    except LokiError as exc:
        step.ok, step.error = False, error_line(exc)
        return step
    step.warnings = result.warnings
    step.notes = result.notes
    if result.requested or dry_run:
        step.removed = [f"{result.selector} before {stamp(result.end)}"]
    step.bytes_freed = result.bytes_freed
    if result.chunks_before is not None:
        step.notes.append(
            f"Chunk folder {settings.chunks_dir}: {human_bytes(result.chunks_before)} before, "
            f"{human_bytes(result.chunks_after)} after."
        )
    return step


def log_files_step(config: Config, now: datetime, dry_run: bool) -> CleanupStep:
    settings = config.cleanup.logs
    step = CleanupStep(LOG_STEP)
    if not settings.dirs:
        step.skipped = "not configured (cleanup.logs.dirs)"
        return step
    result = remove_old_logs(settings, now=now.timestamp(), dry_run=dry_run)
    step.removed = [str(path) for path in result.removed]
    step.bytes_freed = result.bytes_freed
    where = ", ".join(str(f) for f in settings.dirs)
    named = (
        "rotated, compressed or dated logs and *.log files"
        if tuple(settings.patterns) == DEFAULT_LOG_PATTERNS
        else "files named " + ", ".join(settings.patterns)
    )
    step.notes.append(
        f"{named.capitalize()} not modified for "
        f"{format_duration(settings.retention)} in {where}"
        + (" and its subfolders" if settings.recursive else "")
        + "; symlinks and other filesystems are never touched."
    )
    if result.errors:
        step.ok = False
        step.error = "; ".join(result.errors[:5]) + (
            f" and {len(result.errors) - 5} more" if len(result.errors) > 5 else ""
        )
    return step


def alert_history_step(config: Config, now: datetime, dry_run: bool) -> CleanupStep:
    """Forget old resolved alerts, sent mail and expired silences in the alert database."""
    step = CleanupStep("Alert database: old history")
    path = config.state.path
    if not path.exists():
        step.skipped = f"no alert database at {path}"
        return step
    keep = config.cleanup.alert_history
    cutoff = now - timedelta(seconds=keep)
    step.notes.append(
        f"Resolved alerts, sent mail and expired silences that ended more than "
        f"{format_duration(keep)} ago (cleanup.alert_history); firing alerts and queued mail "
        "are kept."
    )
    if dry_run:
        step.notes.append("Dry run: nothing forgotten.")
        return step
    with AlertStore(path) as store:
        removed = store.prune(cutoff)
    if removed:
        step.removed = [f"{removed} record(s) from {path}"]
    return step


def _guard(name: str, run: Callable[[], list[CleanupStep]]) -> list[CleanupStep]:
    try:
        return run()
    except Exception as exc:  # one broken step never stops the others
        log.exception("cleanup step %s failed", name)
        return [CleanupStep(name, ok=False, error=error_line(exc))]


# --- report --------------------------------------------------------------------------------


def removed_line(step: CleanupStep, dry_run: bool) -> str:
    """``Removed 3 (1.5 GiB): a, b, c``: the count, the space, the first names."""
    verb = "Would remove" if dry_run else "Removed"
    listed = ", ".join(step.removed[:MAX_LISTED])
    more = len(step.removed) - MAX_LISTED
    space = f" ({human_bytes(step.bytes_freed)})" if step.bytes_freed else ""
    return f"{verb} {len(step.removed)}{space}: {listed}" + (
        f" and {more} more" if more > 0 else ""
    )


def _not_responding(fs: FilesystemSpace) -> str:
    return (
        f"{fs.mountpoint}: not responding (statvfs blocked: a hung network or FUSE mount?); "
        "its free space is unknown"
    )


def _document(
    steps: list[CleanupStep],
    before: list[FilesystemSpace],
    after: list[FilesystemSpace],
    now: datetime,
    dry_run: bool,
) -> Document:
    freed = sum(s.bytes_freed for s in steps)
    doc = Document(
        title="Weekly cleanup" + (" (dry run: nothing removed)" if dry_run else ""),
        subtitle=f"Run at {stamp(now)}; "
        + (f"would free {human_bytes(freed)}" if dry_run else f"freed {human_bytes(freed)}"),
        footer=f"stackwatch weekly cleanup report, generated {stamp(now)}.",
    )
    doc.attention = [f"{s.name} failed: {s.error}" for s in steps if not s.ok]
    doc.attention += [w for s in steps for w in s.warnings]
    summary = Section("Steps")
    table = Table(
        ["Step", "Result", *(["Would remove", "Would free"] if dry_run else ["Removed", "Freed"])],
        numeric={2, 3},
    )
    for step in steps:
        result = "skipped" if step.skipped else ("OK" if step.ok else "FAILED")
        table.add(
            [step.name, result, str(len(step.removed)), human_bytes(step.bytes_freed)],
            bad=not step.ok,
        )
    summary.tables.append(table)
    doc.sections.append(summary)
    space = Section("Free space per filesystem")
    if before and dry_run:
        space.lines.append("A dry run removes nothing: the free space now.")
        now_table = Table(["Filesystem", "Size", "Free"], numeric={1, 2}, wrap={0})
        for fs in before:
            if not fs.responding:
                now_table.add([fs.mountpoint, "—", "not responding"], bad=True)
                space.warnings.append(_not_responding(fs))
                continue
            now_table.add([fs.mountpoint, human_bytes(fs.size_bytes), human_bytes(fs.free_bytes)])
        space.tables.append(now_table)
    elif before:
        fs_table = Table(
            ["Filesystem", "Size", "Free before", "Free after", "Change"],
            numeric={1, 2, 3, 4},
            wrap={0},
        )
        after_by_mount = {fs.mountpoint: fs for fs in after}
        for fs in before:
            later = after_by_mount.get(fs.mountpoint)
            if not fs.responding or (later is not None and not later.responding):
                fs_table.add([fs.mountpoint, "—", "not responding", "—", "—"], bad=True)
                space.warnings.append(_not_responding(fs))
                continue
            change = later.free_bytes - fs.free_bytes if later else None
            fs_table.add(
                [
                    fs.mountpoint,
                    human_bytes(fs.size_bytes),
                    human_bytes(fs.free_bytes),
                    human_bytes(later.free_bytes) if later else "—",
                    ("+" if change and change > 0 else "") + human_bytes(change),
                ]
            )
        space.tables.append(fs_table)
    else:
        space.unavailable = "Filesystems: could not be listed"
    doc.attention += space.warnings
    doc.sections.append(space)
    for step in steps:
        section = Section(step.name)
        if step.skipped:
            section.unavailable = f"{step.name}: {step.skipped}"
        else:
            if step.error:
                section.warnings.append(f"Failed: {step.error}")
            section.warnings.extend(step.warnings)
            section.lines.extend(step.notes)
            if step.removed:
                section.lines.append(removed_line(step, dry_run))
            elif step.ok:
                section.lines.append("Nothing to remove.")
        doc.sections.append(section)
    return doc


def run_weekly_cleanup(
    config: Config, *, dry_run: bool = False, now: datetime | None = None
) -> CleanupReport:
    """Run every cleanup step (each on its own) and render the report."""
    now = now or datetime.now(tz=UTC)
    stats = MountStats(config.exporter.filesystem_mount_timeout)
    before = filesystem_space(config, stats)
    steps: list[CleanupStep] = []
    steps += _guard("Docker", lambda: docker_steps(config, dry_run))
    steps += _guard(
        "Elasticsearch: old indices", lambda: [elasticsearch_step(config, now, dry_run)]
    )
    steps += _guard("Loki: old log data", lambda: [loki_step(config, now, dry_run)])
    steps += _guard(LOG_STEP, lambda: [log_files_step(config, now, dry_run)])
    steps += _guard(
        "Alert database: old history", lambda: [alert_history_step(config, now, dry_run)]
    )
    after = filesystem_space(config, stats)
    doc = _document(steps, before, after, now, dry_run)
    freed = sum(s.bytes_freed for s in steps)
    failed = [s for s in steps if not s.ok]
    subject = f"[stackwatch] Weekly cleanup {day(now)}: " + (
        f"would free {human_bytes(freed)} (dry run)" if dry_run else f"freed {human_bytes(freed)}"
    )
    if failed:
        subject += f", {len(failed)} step(s) failed"
    return CleanupReport(
        subject=subject,
        markdown=render_markdown(doc),
        text=render_text(doc),
        html=render_html(doc),
        steps=steps,
        dry_run=dry_run,
        filesystems_before=before,
        filesystems_after=after,
    )


def send_cleanup_report(config: Config, report: CleanupReport) -> None:
    """Mail the report (SMTP, or the outbox folder when no SMTP host is set)."""
    mailer = Mailer(config.smtp)
    mailer.send(mailer.compose(report.subject, report.text, report.html))
