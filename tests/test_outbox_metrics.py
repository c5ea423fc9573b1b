"""The outbox on the exporter: ``stackwatch_outbox_*`` read from the real state database.

The exporter's own HTTP server is scraped; the database is written by the alerter's store,
locked by a real SQLite connection, corrupted, missing, or on a filesystem that never answers.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from alerter.store import AlertStore
from exporter.collectors import build_collectors
from exporter.collectors.base import Collector
from exporter.collectors.host import HostCollector
from exporter.collectors.outbox import OutboxCollector
from exporter.registry import build_registry
from exporter.server import Exporter
from stackwatch.config import Config
from stackwatch.state_summary import OUTBOX_COLUMNS, OUTBOX_STATES, read_outbox_summary
from tests.support.compose import container_config, mounts_of
from tests.support.fuse import hung_mount
from tests.support.procs import require_binary, wait_for
from tests.support.timing import within

NOW = time.time()


class Constant(Collector):
    """Another collector, whose series must stay in every scrape."""

    name = "constant"

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("stackwatch_test_constant", "A constant.", value=42)


def _mails(store: AlertStore) -> None:
    """Two queued mails (the older one tried and deferred), one sent, one dead."""
    old = store.enqueue("g", "[FIRING:1] g: Old", b"old", NOW - 600)
    store.claim(old, NOW - 590, 60)
    store.mark_failed(old, "451 4.3.0 Try again later", NOW + 60)
    store.enqueue("h", "[FIRING:1] h: New", b"new", NOW - 60)
    sent = store.enqueue("k", "[FIRING:1] k: Sent", b"sent", NOW - 900)
    store.mark_sent(sent, NOW - 899)
    dead = store.enqueue("m", "[FIRING:1] m: Dead", b"dead", NOW - 1200)
    store.mark_dead(dead, "552 5.3.4 Message too big", NOW - 1199)


Serve = Callable[[dict[str, Collector]], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve collectors on the exporter's HTTP server; returns the /metrics URL."""
    exporters: list[Exporter] = []

    def start(collectors: dict[str, Collector]) -> str:
        exporter = Exporter(collectors)
        exporters.append(exporter)
        host, port = exporter.serve("127.0.0.1:0")
        return f"http://{host}:{port}/metrics"

    yield start
    for exporter in exporters:
        exporter.close()


def scrape(url: str) -> str:
    started = time.monotonic()
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert time.monotonic() - started < within(1.0), "the scrape waited for the database"
    return response.text


def value(text: str, series: str) -> float | None:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def outbox_ok(text: str) -> float | None:
    return value(text, 'stackwatch_scrape_collector_success{collector="outbox"}')


def scrape_until(url: str, check: Callable[[str], bool], what: str, timeout: float = 10) -> str:
    """Scrape (each scrape fast) until ``check`` holds for the text; return that text."""

    def attempt() -> str | None:
        text = scrape(url)
        return text if check(text) else None

    return wait_for(attempt, within(timeout), what)


@pytest.mark.integration
def test_the_exporter_serves_the_outbox_read_only_and_promtool_finds_nothing(
    serve: Serve, tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    with AlertStore(db) as store:
        _mails(store)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    config = Config.model_validate(
        {
            "state": {"path": str(db)},
            "exporter": {"collectors": {"host": False}},
            "docker": {"enabled": False},
        }
    )
    collectors = build_collectors(config)
    assert list(collectors) == ["services", "outbox"]  # on by default
    url = serve(collectors)

    text = scrape_until(url, lambda t: outbox_ok(t) == 1, "a reading")
    assert value(text, 'stackwatch_outbox_mails{state="queued"}') == 2
    assert value(text, 'stackwatch_outbox_mails{state="sent"}') == 1
    assert value(text, 'stackwatch_outbox_mails{state="dead"}') == 1
    assert value(text, "stackwatch_outbox_oldest_queued_timestamp_seconds") == pytest.approx(
        NOW - 600
    )
    assert "# TYPE stackwatch_outbox_mails gauge" in text

    promtool = require_binary("promtool", "prometheus")
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert (lint.stdout + lint.stderr).strip() == ""

    # the exporter never wrote to the database: same bytes after a reading
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before

    # the alerter sends the queued mail: the next reading shows it, and nothing is queued
    with AlertStore(db) as store:
        for mail in store.queued():
            store.mark_sent(mail.id, time.time())
    text = scrape_until(
        url, lambda t: value(t, 'stackwatch_outbox_mails{state="sent"}') == 3, "the next reading"
    )
    assert value(text, 'stackwatch_outbox_mails{state="queued"}') == 0
    assert "stackwatch_outbox_oldest_queued_timestamp_seconds" not in text


def test_no_database_yet_is_zeros_and_nothing_is_created(serve: Serve, tmp_path: Path) -> None:
    db = tmp_path / "not-yet" / "state.db"
    url = serve({"outbox": OutboxCollector(db, interval=0.1)})
    text = scrape_until(url, lambda t: outbox_ok(t) == 1, "a reading")
    for state in OUTBOX_STATES:
        assert value(text, f'stackwatch_outbox_mails{{state="{state}"}}') == 0
    assert "stackwatch_outbox_oldest_queued_timestamp_seconds" not in text
    assert not db.parent.exists()


def test_a_corrupt_database_fails_only_its_collector(serve: Serve, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not SQLite\n" * 500)
    url = serve(
        {"host": HostCollector.from_config(Config()), "outbox": OutboxCollector(db, interval=0.1)}
    )
    text = scrape_until(url, lambda t: outbox_ok(t) == 0, "a failure")
    assert value(text, 'stackwatch_scrape_collector_success{collector="host"}') == 1
    assert "node_memory_MemTotal_bytes" in text
    assert "stackwatch_outbox_mails" not in text

    db.unlink()  # the alerter starts afresh: its database is read from then on
    with AlertStore(db) as store:
        _mails(store)
    text = scrape_until(url, lambda t: outbox_ok(t) == 1, "a recovery")
    assert value(text, 'stackwatch_outbox_mails{state="dead"}') == 1


def test_a_locked_database_serves_the_last_reading_without_waiting(
    serve: Serve, tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    with AlertStore(db) as store:
        _mails(store)
    url = serve({"outbox": OutboxCollector(db, interval=0.1, max_age=within(3))})
    wait_for(lambda: outbox_ok(scrape(url)) == 1, 10, "a reading")

    # a writer in exclusive locking mode keeps every reader out, as long as it likes
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA locking_mode=EXCLUSIVE")
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute(
        "INSERT INTO outbox (grp, subject, message, created_at) VALUES ('n', 's', x'00', ?)",
        (NOW,),
    )
    try:
        text = scrape(url)  # within the refresh's lock wait and beyond: the last reading
        assert outbox_ok(text) == 1
        assert value(text, 'stackwatch_outbox_mails{state="queued"}') == 2
        # too old to serve: the collector says why, and the scrape still does not wait
        text = scrape_until(url, lambda t: outbox_ok(t) == 0, "stale")
        assert "stackwatch_outbox_mails" not in text
        writer.execute("COMMIT")
    finally:
        writer.close()
    text = scrape_until(url, lambda t: outbox_ok(t) == 1, "a recovery")
    assert value(text, 'stackwatch_outbox_mails{state="queued"}') == 3


@pytest.mark.integration
def test_a_hung_disk_under_the_database_never_delays_a_scrape(serve: Serve, tmp_path: Path) -> None:
    """The database's folder is a FUSE mount that never answers (tests/support/fuse.py), as a
    hard-mounted NFS export whose server went away: the background read blocks, scrapes not."""
    mount = tmp_path / "nfs"
    mount.mkdir()
    with hung_mount(mount) as hung:
        collector = OutboxCollector(mount / "state.db", interval=0.1, max_age=1.0)
        url = serve({"constant": Constant(), "outbox": collector})
        for _ in range(3):
            text = scrape(url)
            assert outbox_ok(text) == 0
            assert value(text, "stackwatch_test_constant") == 42
        hung.abort()  # the read fails at last: the failure is served, named
        wait_for(lambda: outbox_ok(scrape(url)) == 0, 10, "the failure")
        collector.close()


def test_the_reader_follows_the_outbox_schema(tmp_path: Path) -> None:
    """The reader's knowledge of the outbox table is checked against the store's schema, and
    its states against the store's own queued and dead mail, for mail in every state."""
    db = tmp_path / "state.db"
    with AlertStore(db) as store:
        columns = [row[1] for row in store._db.execute("PRAGMA table_info(outbox)")]
        assert tuple(columns) == OUTBOX_COLUMNS, (
            "the outbox changed: update stackwatch/state_summary.py"
        )
        _mails(store)
        # some recipients done, one refused for good, one still deferred: queued
        partial = store.enqueue("p", "partial", b"p", NOW)
        store.mark_recipients(
            partial, pending=["b@x"], dead={"c@x": "550 no"}, error="e", next_attempt=NOW, now=NOW
        )
        # then the deferred one accepted: dead (one recipient refused it for good)
        finished = store.enqueue("q", "finished", b"q", NOW)
        store.mark_recipients(
            finished, pending=["b@x"], dead={"c@x": "550 no"}, error="e", next_attempt=NOW, now=NOW
        )
        store.mark_sent(finished, NOW + 1)
        queued, dead = len(store.queued()), len(store.dead())
        total = store._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    summary = read_outbox_summary(db)
    assert summary is not None
    assert summary.mails == {"queued": queued, "sent": total - queued - dead, "dead": dead}
    assert summary.mails == {"queued": 3, "sent": 1, "dead": 2}
    assert summary.retrying == 2
    assert summary.oldest_queued == pytest.approx(NOW - 600)


def test_the_compose_exporter_reads_the_workers_alert_database(
    resolved_compose: dict[str, Any],
) -> None:
    services = resolved_compose["services"]
    exporter, worker = services["exporter"], services["prefect-worker"]
    path = container_config(exporter).state.path
    assert path == container_config(worker).state.path
    assert container_config(exporter).collector_enabled("outbox")
    folder = str(path.parent)
    assert mounts_of(exporter)[folder][0] == mounts_of(worker)[folder][0]


GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "outbox.prom"


def test_golden_exposition(tmp_path: Path) -> None:
    """Names, types, HELP, label sets and values match the recorded exposition (the collector's
    duration masked)."""
    db = tmp_path / "state.db"
    with AlertStore(db) as store:
        store.enqueue("g", "[FIRING:1] g: A", b"a", 1_800_000_000.0)
        store.enqueue("h", "[FIRING:1] h: B", b"b", 1_800_000_100.5)
        store.mark_dead(store.enqueue("k", "s", b"c", 1_700_000_000.0), "552 too big", 1.0)
    collector = OutboxCollector(db)
    collector.refresh()
    text = generate_latest(build_registry({"outbox": collector})).decode()
    masked = [
        re.sub(r"(_duration_seconds\{.*\}) .*", r"\1 ...", line)
        for line in text.splitlines()
        if not line.startswith("stackwatch_build_info")
    ]
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text("\n".join(masked) + "\n")
    assert "\n".join(masked) + "\n" == GOLDEN.read_text()
