"""Elasticsearch/OpenSearch and Loki cleanup against local HTTP servers.

No Elasticsearch, OpenSearch or Loki server can run here (Debian's package ``loki`` is another
program, for genetic linkage analysis; Grafana Loki has no Debian package), so small local HTTP
servers answer the REST calls the cleanup makes with the bodies those servers send (captured
shapes in tests/fixtures/es and tests/fixtures/loki), keep state across calls, and record every
request so the tests can check exactly what would have reached a real cluster.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from stackwatch.config import Config, ElasticsearchCleanupConfig, LokiCleanupConfig
from stackwatch.reports.cleanup import run_weekly_cleanup
from stackwatch.reports.elasticsearch import (
    MAX_REQUEST_LINE,
    ElasticsearchError,
    Index,
    batches,
    decide,
    delete_old_indices,
    name_date,
)
from stackwatch.reports.loki import LokiError, folder_size, parse_loki_config, truncate_old_data
from tests.support.http import QuietHandler, ThreadedServer

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OLD_USER_INDICES = ["filebeat-8.15.3-2026.10.01", "logstash-2026.09.01", "logstash-archive"]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / "es" / name).read_text())


@pytest.fixture
def http_server() -> Iterator[Callable[[Callable[[Recorded], tuple[int, bytes]]], str]]:
    """Start a local HTTP server whose answers come from ``handler``; returns its URL."""
    servers: list[ThreadedServer] = []

    def start(handler: Callable[[Recorded], tuple[int, bytes]]) -> str:
        class Handler(QuietHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = handler(
                    Recorded(self.command, self.path, self.requestline, dict(self.headers), body)
                )
                self.send_response(status)
                if payload:
                    ctype = "application/yaml" if self.path == "/config" else "application/json"
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

        servers.append(ThreadedServer(Handler).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


class Recorded:
    def __init__(
        self, method: str, path: str, line: str, headers: dict[str, str], body: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.line = line
        self.headers = headers
        self.body = body
        parts = urlsplit(path)
        self.route = parts.path
        self.params = parse_qs(parts.query)


class FakeCluster:
    """Elasticsearch (or OpenSearch) state: indices, a data stream, ILM/ISM-managed indices."""

    def __init__(self, distribution: str = "elasticsearch", extra: list[str] | None = None) -> None:
        self.distribution = distribution
        self.indices = {row["index"]: row for row in fixture("cat-indices.json")}
        old = str(int(datetime(2026, 8, 1, tzinfo=UTC).timestamp() * 1000))
        for name in extra or []:
            self.indices[name] = {
                "index": name,
                "status": "open",
                "creation.date": old,
                "store.size": "1024",
            }
        self.managed = {"logstash-ilm-000001"}
        self.aliases: dict[str, dict[str, Any]] = {
            name: entry["aliases"] for name, entry in fixture("aliases.json").items()
        }
        self.requests: list[Recorded] = []
        self.fail_delete: Callable[[list[str]], tuple[int, bytes] | None] = lambda names: None
        self.fail_explain = False
        self.lock = threading.Lock()

    def __call__(self, request: Recorded) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(request)
            return self.answer(request)

    def answer(self, request: Recorded) -> tuple[int, bytes]:
        route, method = request.route, request.method
        if route == "/" and method == "GET":
            root = (
                "root-opensearch.json"
                if self.distribution == "opensearch"
                else ("root-elasticsearch.json")
            )
            return 200, json.dumps(fixture(root)).encode()
        if route == "/_cat/indices" and method == "GET":
            return 200, json.dumps(list(self.indices.values())).encode()
        if route == "/_alias" and method == "GET":
            body = {name: {"aliases": self.aliases.get(name, {})} for name in self.indices}
            return 200, json.dumps(body).encode()
        if route == "/_data_stream" and method == "GET":
            return 200, json.dumps(fixture("data-streams.json")).encode()
        if route.endswith("/_ilm/explain") and self.distribution == "elasticsearch":
            return self.ilm_explain(route.removesuffix("/_ilm/explain").lstrip("/"))
        if route.startswith("/_plugins/_ism/explain/") and self.distribution == "opensearch":
            return self.ism_explain(route.removeprefix("/_plugins/_ism/explain/"))
        if method == "DELETE" and route.count("/") == 1 and route != "/":
            names = unquote(route.lstrip("/")).split(",")
            failure = self.fail_delete(names)
            if failure is not None:
                return failure
            for name in names:
                self.indices.pop(name, None)
            return 200, b'{"acknowledged":true}'
        message = f"no handler found for uri [{request.path}] and method [{method}]"
        return 400, json.dumps({"error": message}).encode()

    def _unknown(self, names: list[str]) -> tuple[int, bytes] | None:
        missing = [n for n in names if n not in self.indices]
        if missing:
            return 404, json.dumps(fixture("error-index-not-found.json")).encode()
        return None

    def ilm_explain(self, target: str) -> tuple[int, bytes]:
        if self.fail_explain:
            return 503, b'{"error":{"type":"cluster_block_exception","reason":"blocked"}}'
        names = unquote(target).split(",")
        if (missing := self._unknown(names)) is not None:
            return missing
        out = {}
        for name in names:
            if name in self.managed:
                out[name] = {**fixture("ilm-explain-managed.json"), "index": name}
            else:
                out[name] = {"index": name, "managed": False}
        return 200, json.dumps({"indices": out}).encode()

    def ism_explain(self, target: str) -> tuple[int, bytes]:
        names = unquote(target).split(",")
        if (missing := self._unknown(names)) is not None:
            return missing
        out: dict[str, Any] = {}
        for name in names:
            if name in self.managed:
                out[name] = {**fixture("ism-explain-managed.json"), "index": name}
            else:
                out[name] = {
                    "index.plugins.index_state_management.policy_id": None,
                    "index.opendistro.index_state_management.policy_id": None,
                    "enabled": None,
                }
        out["total_managed_indices"] = sum(1 for n in names if n in self.managed)
        return 200, json.dumps(out).encode()

    @property
    def deletes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "DELETE"]

    def deleted_names(self) -> list[str]:
        return sorted(n for r in self.deletes for n in unquote(r.route.lstrip("/")).split(","))


def es_config(url: str, **extra: Any) -> ElasticsearchCleanupConfig:
    return ElasticsearchCleanupConfig.model_validate(
        {"url": url, "prefixes": ["logstash-", "filebeat-"], **extra}
    )


# --- pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("logstash-2026.09.01", datetime(2026, 9, 2, tzinfo=UTC)),
        ("filebeat-8.15.3-2026.10.01", datetime(2026, 10, 2, tzinfo=UTC)),
        ("app-logs-2026-02-28", datetime(2026, 3, 1, tzinfo=UTC)),
        ("nginx-20261001", datetime(2026, 10, 2, tzinfo=UTC)),
        ("filebeat-8.15.3-2026.10", datetime(2026, 11, 1, tzinfo=UTC)),
        ("logstash-ilm-000001", None),
        ("logstash-archive", None),
        ("logstash-2026.13.45", None),
    ],
)
def test_the_date_in_a_name_counts_from_the_end_of_its_day_or_month(
    name: str, expected: datetime | None
) -> None:
    assert name_date(name) == expected


def test_data_stream_and_managed_indices_are_never_chosen() -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    indices = [
        Index("logs-app-000001", old, 10),
        Index("logs-app-000002", old, 10),
        Index("logs-other-2026.01.01", old, 10),
    ]
    decisions = decide(
        indices,
        prefixes=["logs-"],
        retention=30 * 86400,
        now=NOW,
        protected={
            "logs-app-000001": "backing index of data stream logs-app",
            "logs-app-000002": "write index of data stream logs-app",
        },
    )
    chosen = [d.index.name for d in decisions if d.delete]
    assert chosen == ["logs-other-2026.01.01"]
    assert {d.reason for d in decisions if not d.delete} == {
        "backing index of data stream logs-app",
        "write index of data stream logs-app",
    }


def test_batches_keep_the_request_line_short_and_lose_no_name() -> None:
    names = [f"logstash-some-rather-long-application-name-{i:04d}-2026.08.01" for i in range(300)]
    out = list(batches(names, 0))
    assert len(out) > 1
    assert [n for batch in out for n in batch] == names
    for batch in out:
        line = f"DELETE /{','.join(batch)}?ignore_unavailable=true&expand_wildcards=none HTTP/1.1"
        assert len(line) <= MAX_REQUEST_LINE


# --- against the local Elasticsearch --------------------------------------------------------


def test_only_old_user_indices_are_deleted_in_batches(http_server: Any) -> None:
    """Old logstash-/filebeat- indices go; .kibana, .ds- backing indices, the ILM-managed
    index, young ones, a restored one with an old name, a month index whose month ended less
    than 30 days ago and unprefixed ones stay. 150 extra old indices force several batches."""
    extra = [f"logstash-very-long-service-name-for-batching-{i:03d}-2026.08.01" for i in range(150)]
    cluster = FakeCluster(extra=extra)
    url = http_server(cluster)

    result = delete_old_indices(es_config(url), now=NOW)

    assert cluster.deleted_names() == sorted(OLD_USER_INDICES + extra)
    assert len(cluster.deletes) >= 3
    for request in cluster.deletes:
        assert len(request.line) < MAX_REQUEST_LINE
        assert "*" not in request.line
        assert "_all" not in request.line
    assert sorted(cluster.indices) == sorted(
        [
            ".ds-logs-nginx.access-default-2026.09.01-000001",
            ".ds-logs-nginx.access-default-2026.11.01-000002",
            ".kibana_8.15.3_001",
            ".kibana_task_manager_8.15.3_001",
            ".security-7",
            "filebeat-8.15.3-2026.10",
            "filebeat-8.15.3-2026.11.25",
            "logstash-2026.10.01-restored",
            "logstash-2026.11.20",
            "logstash-ilm-000001",
            "metrics-2026.09.01",
        ]
    )
    assert result.bytes_freed == 52428800 + 31457280 + 2097152 + 150 * 1024
    assert result.errors == []
    reasons = {d.index.name: d.reason for d in result.decisions}
    assert reasons["logstash-ilm-000001"] == "managed by ILM policy logstash-policy"
    # the explain call asked about concrete names only
    explains = [r for r in cluster.requests if r.route.endswith("/_ilm/explain")]
    assert explains
    assert all("*" not in r.path for r in explains)


def test_an_aliases_write_index_is_never_deleted(http_server: Any) -> None:
    """Old rollover indices behind an alias: the older one goes, the write index stays, and so
    does an index an alias points to alone (Elasticsearch writes through it)."""
    rollover = ["logstash-app-000001", "logstash-app-000002", "logstash-only-2026.08.01"]
    cluster = FakeCluster(extra=rollover)
    cluster.aliases["logstash-app-000001"] = {"logstash-app": {"is_write_index": False}}
    cluster.aliases["logstash-app-000002"] = {"logstash-app": {"is_write_index": True}}
    cluster.aliases["logstash-only-2026.08.01"] = {"logstash-only": {}}
    url = http_server(cluster)

    result = delete_old_indices(es_config(url), now=NOW)

    assert cluster.deleted_names() == sorted([*OLD_USER_INDICES, "logstash-app-000001"])
    assert "logstash-app-000002" in cluster.indices
    assert "logstash-only-2026.08.01" in cluster.indices
    reasons = {d.index.name: d.reason for d in result.decisions}
    assert reasons["logstash-app-000002"] == "write index of alias logstash-app"
    assert reasons["logstash-only-2026.08.01"] == "write index of alias logstash-only"


def test_when_aliases_cannot_be_read_nothing_is_deleted(http_server: Any) -> None:
    cluster = FakeCluster()

    def no_aliases(request: Recorded) -> tuple[int, bytes]:
        if request.route == "/_alias":
            return 403, json.dumps(fixture("error-security.json")).encode()
        return cluster(request)

    url = http_server(no_aliases)

    with pytest.raises(ElasticsearchError, match="GET /_alias answered 403"):
        delete_old_indices(es_config(url), now=NOW)
    assert cluster.deletes == []


def test_opensearch_ism_managed_index_is_kept(http_server: Any) -> None:
    cluster = FakeCluster("opensearch")
    url = http_server(cluster)

    result = delete_old_indices(es_config(url), now=NOW)

    assert cluster.deleted_names() == OLD_USER_INDICES
    reasons = {d.index.name: d.reason for d in result.decisions}
    assert reasons["logstash-ilm-000001"] == "managed by ISM policy hot-warm-delete"
    assert not any("_ilm" in r.path for r in cluster.requests)


def test_dry_run_deletes_nothing(http_server: Any) -> None:
    cluster = FakeCluster()
    url = http_server(cluster)

    result = delete_old_indices(es_config(url), now=NOW, dry_run=True)

    assert cluster.deletes == []
    assert sorted(i.name for i in result.deleted) == OLD_USER_INDICES


def test_when_management_cannot_be_told_nothing_is_deleted(http_server: Any) -> None:
    cluster = FakeCluster()
    cluster.fail_explain = True
    url = http_server(cluster)
    config = Config.model_validate(
        {
            "cleanup": {
                "docker": {"enabled": False},
                "elasticsearch": {"url": url, "prefixes": ["logstash-"]},
            },
        }
    )

    report = run_weekly_cleanup(config, now=NOW)

    assert cluster.deletes == []
    step = next(s for s in report.steps if s.name.startswith("Elasticsearch"))
    assert not step.ok
    assert "503" in (step.error or "")
    assert "Elasticsearch: old indices failed" in report.text


def test_a_refused_batch_is_reported_and_the_others_still_run(http_server: Any) -> None:
    """The first batch answers 403 (the user lacks delete_index): later batches go ahead."""
    extra = [f"logstash-very-long-service-name-for-batching-{i:03d}-2026.08.01" for i in range(150)]
    cluster = FakeCluster(extra=extra)
    refused: list[list[str]] = []

    def refuse_first(names: list[str]) -> tuple[int, bytes] | None:
        if not refused:
            refused.append(names)
            return 403, json.dumps(fixture("error-security.json")).encode()
        return None

    cluster.fail_delete = refuse_first
    url = http_server(cluster)
    config = Config.model_validate(
        {
            "cleanup": {
                "docker": {"enabled": False},
                "elasticsearch": {"url": url, "prefixes": ["logstash-", "filebeat-"]},
            },
        }
    )

    report = run_weekly_cleanup(config, now=NOW)

    step = next(s for s in report.steps if s.name.startswith("Elasticsearch"))
    assert not step.ok
    assert "403" in (step.error or "")
    assert "security_exception" in (step.error or "")
    assert all(name in cluster.indices for name in refused[0])
    removed_by_later_batches = sorted(set(OLD_USER_INDICES + extra) - set(refused[0]))
    assert sorted(step.removed) == removed_by_later_batches
    assert not any(n in cluster.indices for n in removed_by_later_batches)
    assert "FAILED" in report.text
    assert report.subject.endswith("1 step(s) failed")


def test_unreachable_cluster_is_a_failed_step_not_a_crash(http_server: Any) -> None:
    config = Config.model_validate(
        {
            "cleanup": {
                "docker": {"enabled": False},
                "elasticsearch": {
                    "url": "http://127.0.0.1:9",
                    "prefixes": ["logstash-"],
                    "timeout": "2s",
                },
                "loki": {"url": http_server(LokiServer("config-retention-on.yaml"))},
            },
        }
    )

    report = run_weekly_cleanup(config, now=NOW)

    steps = {s.name: s for s in report.steps}
    assert not steps["Elasticsearch: old indices"].ok
    assert steps["Loki: old log data"].ok


# --- against the local Loki ---------------------------------------------------------------


class LokiServer:
    """Loki's /config (YAML of the running config), its build info and the compactor's delete
    endpoint: ``/loki/api/admin/delete`` up to 2.5, ``/loki/api/v1/delete`` from 2.6 (the
    other path answers 404, as the router of that version does)."""

    def __init__(self, config_file: str, version: str | None = "2.9.8") -> None:
        self.config = (FIXTURES / "loki" / config_file).read_bytes()
        self.version = version
        self.requests: list[Recorded] = []

    @property
    def admin_api(self) -> bool:
        return self.version is not None and self.version.split(".")[:2] in (
            ["2", "3"],
            ["2", "4"],
            ["2", "5"],
        )

    @property
    def delete_route(self) -> str:
        return "/loki/api/admin/delete" if self.admin_api else "/loki/api/v1/delete"

    def __call__(self, request: Recorded) -> tuple[int, bytes]:
        self.requests.append(request)
        if request.route == "/config" and request.method == "GET":
            return 200, self.config
        if request.route == "/loki/api/v1/status/buildinfo" and self.version is not None:
            info = json.loads((FIXTURES / "loki" / "buildinfo.json").read_text())
            return 200, json.dumps({**info, "version": self.version}).encode()
        if request.route == self.delete_route and request.method == "POST":
            # the admin API takes the selector as match[], the v1 API as query
            if ("match[]" if self.admin_api else "query") not in request.params:
                return 400, b"invalid query: selectors not set\n"
            return 204, b""
        return 404, b"404 page not found\n"

    @property
    def deletes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]


@pytest.mark.parametrize(
    ("version", "route"),
    [
        ("2.3.1", "/loki/api/admin/delete"),
        ("2.4.2", "/loki/api/admin/delete"),
        ("2.5.0", "/loki/api/admin/delete"),
        ("2.6.1", "/loki/api/v1/delete"),
        ("3.1.0", "/loki/api/v1/delete"),
        ("main-5a7e4c1", "/loki/api/v1/delete"),
    ],
)
def test_the_delete_api_follows_lokis_version(http_server: Any, version: str, route: str) -> None:
    loki = LokiServer("config-retention-on.yaml", version)
    config = LokiCleanupConfig.model_validate({"url": http_server(loki)})

    result = truncate_old_data(config, now=NOW)

    assert result.requested
    assert [r.route for r in loki.deletes] == [route]
    param = "match[]" if route.endswith("/admin/delete") else "query"
    assert loki.deletes[0].params[param] == ['{job=~".+"}']
    assert f"Loki {version}" in " ".join(result.notes)


def test_a_loki_too_old_for_deletion_gets_no_request(http_server: Any) -> None:
    loki = LokiServer("config-retention-on.yaml", "2.2.1")
    config = LokiCleanupConfig.model_validate({"url": http_server(loki)})

    with pytest.raises(LokiError, match=r"Loki 2\.2\.1 has no delete API"):
        truncate_old_data(config, now=NOW)
    assert loki.deletes == []


def test_a_loki_without_build_info_is_a_failed_step(http_server: Any) -> None:
    """An old Loki, or a server that is not Loki, has no build info: nothing is sent."""
    loki = LokiServer("config-retention-on.yaml", version=None)
    config = Config.model_validate(
        {"cleanup": {"docker": {"enabled": False}, "loki": {"url": http_server(loki)}}}
    )

    report = run_weekly_cleanup(config, now=NOW)

    step = next(s for s in report.steps if s.name.startswith("Loki"))
    assert not step.ok
    assert "buildinfo answered 404" in (step.error or "")
    assert "Loki 2.3 or later" in (step.error or "")
    assert loki.deletes == []


def test_parse_loki_config() -> None:
    on = parse_loki_config((FIXTURES / "loki" / "config-retention-on.yaml").read_text())
    assert on.retention_enabled
    assert on.deletion_mode == "filter-and-delete"
    assert on.retention_period == 744 * 3600
    assert on.delete_request_cancel_period == 86400
    assert on.warnings == []
    off = parse_loki_config((FIXTURES / "loki" / "config-retention-off.yaml").read_text())
    assert not off.retention_enabled
    assert any("retention is OFF" in w for w in off.warnings)


def test_loki_delete_request_carries_selector_times_and_tenant(
    http_server: Any, tmp_path: Path
) -> None:
    loki = LokiServer("config-retention-on.yaml")
    url = http_server(loki)
    chunks = tmp_path / "chunks"
    (chunks / "fake" / "tenant").mkdir(parents=True)
    (chunks / "fake" / "tenant" / "chunk1").write_bytes(b"x" * 5000)
    config = LokiCleanupConfig.model_validate(
        {
            "url": url,
            "selector": '{job="varlogs"}',
            "retention": "14d",
            "org_id": "ops",
            "chunks_dir": str(chunks),
        }
    )

    result = truncate_old_data(config, now=NOW)

    assert len(loki.deletes) == 1
    request = loki.deletes[0]
    assert request.params["query"] == ['{job="varlogs"}']
    assert request.params["start"] == ["0"]
    assert request.params["end"] == [str(int((NOW - timedelta(days=14)).timestamp()))]
    assert request.headers.get("X-Scope-OrgID") == "ops"
    assert result.requested
    assert result.warnings == []
    assert result.chunks_before == 5000 == folder_size(chunks)


def test_loki_retention_off_warns_in_the_report(http_server: Any) -> None:
    loki = LokiServer("config-retention-off.yaml")
    url = http_server(loki)
    config = Config.model_validate(
        {"cleanup": {"docker": {"enabled": False}, "loki": {"url": url}}}
    )

    report = run_weekly_cleanup(config, now=NOW)

    step = next(s for s in report.steps if s.name.startswith("Loki"))
    assert step.ok
    assert any("retention is OFF" in w for w in step.warnings)
    assert "Loki compactor retention is OFF" in report.text
    assert "Loki compactor retention is OFF" in report.html
    assert "Loki compactor retention is OFF" in report.markdown
    # the request still went in: it is carried out once retention is switched on
    assert len(loki.deletes) == 1
    assert loki.deletes[0].params["query"] == ['{job=~".+"}']


def test_loki_dry_run_sends_no_delete_request(http_server: Any) -> None:
    loki = LokiServer("config-retention-on.yaml")
    url = http_server(loki)
    config = Config.model_validate(
        {"cleanup": {"docker": {"enabled": False}, "loki": {"url": url}}}
    )

    report = run_weekly_cleanup(config, now=NOW, dry_run=True)

    assert loki.deletes == []
    assert {r.route for r in loki.requests} == {"/loki/api/v1/status/buildinfo", "/config"}
    assert "Would request deletion" in report.text


def test_loki_refusing_the_delete_is_reported(http_server: Any) -> None:
    """Loki answers 404 on the delete endpoint when deletion is not served by this target."""
    loki = LokiServer("config-retention-on.yaml")

    def no_delete(request: Recorded) -> tuple[int, bytes]:
        if request.method == "POST":
            return 404, b"404 page not found\n"
        return loki(request)

    url = http_server(no_delete)
    config = Config.model_validate(
        {"cleanup": {"docker": {"enabled": False}, "loki": {"url": url}}}
    )

    report = run_weekly_cleanup(config, now=NOW)

    step = next(s for s in report.steps if s.name.startswith("Loki"))
    assert not step.ok
    assert "404" in (step.error or "")


def test_loki_2_5_deletion_mode_is_read_from_the_compactor() -> None:
    text = (FIXTURES / "loki" / "config-retention-on.yaml").read_text()
    text = text.replace("  deletion_mode: filter-and-delete\n", "")
    text = text.replace("compactor:\n", "compactor:\n  deletion_mode: disabled\n")

    status = parse_loki_config(text)

    assert status.deletion_mode == "disabled"
    assert any("deletion is disabled" in w for w in status.warnings)
