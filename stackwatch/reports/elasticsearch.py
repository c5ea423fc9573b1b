"""Delete old Elasticsearch/OpenSearch indices over plain REST, refusing anything not clearly ours.

An index is deleted only when all of these hold: its name starts with a configured prefix; it
does not start with ``.`` (system, hidden, data-stream backing indices); it backs no data
stream and takes no alias's writes; neither ILM (Elasticsearch) nor ISM (OpenSearch) manages
it; and it is older than the retention, its age being now minus the later of its creation date
and the end of the day or month written in its name. Deletes name concrete indices only (never
a wildcard), in batches that keep the request line under ``MAX_REQUEST_LINE`` bytes. When the
alias, management or data-stream lookup fails, nothing is deleted.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from stackwatch import __version__
from stackwatch.config import ElasticsearchCleanupConfig
from stackwatch.errors import StackwatchError

MAX_REQUEST_LINE = 3500  # bytes, well under the 4 KB default of http.max_initial_line_length
DELETE_PARAMS = "?ignore_unavailable=true&expand_wildcards=none"

_DAY = re.compile(r"(?<!\d)(\d{4})[.\-_/]?(\d{2})[.\-_/]?(\d{2})(?!\d)")
_MONTH = re.compile(r"(?<!\d)(\d{4})[.\-_/](\d{2})(?![.\-_/]?\d)")


class ElasticsearchError(StackwatchError):
    """The cluster could not be reached, or answered a request with an error."""


@dataclass(frozen=True)
class Index:
    name: str
    created: datetime | None
    size_bytes: int
    status: str = "open"


@dataclass(frozen=True)
class Decision:
    index: Index
    delete: bool
    reason: str
    age_days: float | None = None


@dataclass
class DeleteResult:
    """Indices deleted (or, in a dry run, that would be), bytes freed and per-batch errors."""

    decisions: list[Decision] = field(default_factory=list)
    deleted: list[Index] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    distribution: str = ""

    @property
    def bytes_freed(self) -> int:
        return sum(index.size_bytes for index in self.deleted)

    @property
    def candidates(self) -> list[Index]:
        return [d.index for d in self.decisions if d.delete]


def name_date(name: str) -> datetime | None:
    """When the data in an index named for a day or month ends: the end of that day or month."""
    for match in _DAY.finditer(name):
        year, month, day = (int(g) for g in match.groups())
        try:
            return datetime(year, month, day, tzinfo=UTC) + timedelta(days=1)
        except ValueError:
            continue
    for match in _MONTH.finditer(name):
        year, month = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12:
            last = calendar.monthrange(year, month)[1]
            return datetime(year, month, last, tzinfo=UTC) + timedelta(days=1)
    return None


def index_age(index: Index, now: datetime) -> float | None:
    """Seconds since the later of the creation date and the date in the name."""
    dates = [d for d in (index.created, name_date(index.name)) if d is not None]
    if not dates:
        return None
    return (now - max(dates)).total_seconds()


def write_indices(body: dict[str, Any]) -> dict[str, str]:
    """``GET _alias`` (index -> its aliases): the write index of each alias, with why it is kept.

    An alias naming one index without ``is_write_index`` writes to that index, as Elasticsearch
    and OpenSearch do; with several, only the one flagged ``true`` takes writes.
    """
    members: dict[str, list[tuple[str, Any]]] = {}
    for index, entry in body.items():
        aliases = entry.get("aliases") if isinstance(entry, dict) else None
        for alias, settings in (aliases or {}).items():
            flag = settings.get("is_write_index") if isinstance(settings, dict) else None
            members.setdefault(alias, []).append((index, flag))
    out: dict[str, str] = {}
    for alias, indices in sorted(members.items()):
        for index, flag in indices:
            if flag is True or (len(indices) == 1 and flag is None):
                out.setdefault(index, f"write index of alias {alias}")
    return out


def parse_cat_indices(rows: Sequence[dict[str, Any]]) -> list[Index]:
    """``_cat/indices?format=json&h=index,status,creation.date,store.size&bytes=b`` rows."""
    out = []
    for row in rows:
        raw_created = row.get("creation.date")
        created = (
            datetime.fromtimestamp(int(raw_created) / 1000, tz=UTC)
            if raw_created not in (None, "")
            else None
        )
        size = row.get("store.size")
        out.append(
            Index(
                name=str(row["index"]),
                created=created,
                size_bytes=int(size) if size not in (None, "") else 0,
                status=str(row.get("status") or "open"),
            )
        )
    return out


def decide(
    indices: Iterable[Index],
    *,
    prefixes: Sequence[str],
    retention: float,
    now: datetime,
    protected: dict[str, str],
) -> list[Decision]:
    """Which indices to delete and why each other one is kept; ``protected`` maps name to why."""
    decisions = []
    for index in sorted(indices, key=lambda i: i.name):
        name = index.name
        age = index_age(index, now)
        days = age / 86400 if age is not None else None
        if name.startswith("."):
            decisions.append(Decision(index, False, "system or hidden index", days))
        elif not any(name.startswith(prefix) for prefix in prefixes):
            decisions.append(Decision(index, False, "matches no configured prefix", days))
        elif name in protected:
            decisions.append(Decision(index, False, protected[name], days))
        elif age is None:
            decisions.append(Decision(index, False, "no creation date", days))
        elif age <= retention:
            decisions.append(Decision(index, False, "younger than the retention", days))
        else:
            decisions.append(Decision(index, True, "older than the retention", days))
    return decisions


def batches(
    names: Sequence[str], prefix_len: int, limit: int = MAX_REQUEST_LINE
) -> Iterator[list[str]]:
    """Split names so that ``DELETE /<a,b,c><params> HTTP/1.1`` stays under ``limit`` bytes."""
    overhead = len("DELETE /") + prefix_len + len(DELETE_PARAMS) + len(" HTTP/1.1")
    batch: list[str] = []
    length = overhead
    for name in names:
        encoded = len(quote(name, safe="")) + (1 if batch else 0)
        if batch and length + encoded > limit:
            yield batch
            batch, length = [], overhead
            encoded -= 1
        if overhead + encoded > limit:
            raise ElasticsearchError(f"index name too long to delete safely: {name[:80]}...")
        batch.append(name)
        length += encoded
    if batch:
        yield batch


class ElasticsearchClient:
    """The handful of REST calls the cleanup needs; works with Elasticsearch and OpenSearch."""

    def __init__(
        self, config: ElasticsearchCleanupConfig, session: requests.Session | None = None
    ) -> None:
        self.config = config
        self.base_url = config.url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"stackwatch/{__version__}"
        self.session.verify = config.verify_tls
        if config.api_key is not None:
            self.session.headers["Authorization"] = f"ApiKey {config.api_key.get()}"
        elif config.username is not None:
            password = config.password.get() if config.password else ""
            self.session.auth = (config.username, password)

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str) -> requests.Response:
        try:
            return self.session.request(
                method, f"{self.base_url}{path}", timeout=self.config.timeout
            )
        except requests.RequestException as exc:
            raise ElasticsearchError(f"{self.base_url} unreachable: {exc}") from exc

    def json(self, method: str, path: str, *, absent_ok: bool = False) -> Any:
        """The JSON answer; with ``absent_ok`` an API the cluster does not have answers None."""
        response = self.request(method, path)
        if response.status_code < 400:
            return response.json()
        if absent_ok and _endpoint_missing(response):
            return None
        raise ElasticsearchError(
            f"{method} {path.split('?')[0]} answered {response.status_code}: "
            f"{_error_text(response)}"
        )

    def distribution(self) -> str:
        info = self.json("GET", "/")
        version = info.get("version", {}) if isinstance(info, dict) else {}
        return str(version.get("distribution") or "elasticsearch")

    def indices(self) -> list[Index]:
        rows = self.json(
            "GET",
            "/_cat/indices?format=json&expand_wildcards=all&bytes=b"
            "&h=index,status,creation.date,store.size",
        )
        return parse_cat_indices(rows)

    def data_stream_indices(self) -> dict[str, str]:
        """Every index backing a data stream, write index included, with why it is kept."""
        body = self.json("GET", "/_data_stream?expand_wildcards=all", absent_ok=True)
        out: dict[str, str] = {}
        for stream in (body or {}).get("data_streams", []):
            backing = [str(i["index_name"]) for i in stream.get("indices", [])]
            for position, name in enumerate(backing):
                last = position == len(backing) - 1
                kind = "write index" if last else "backing index"
                out[name] = f"{kind} of data stream {stream.get('name')}"
        return out

    def alias_write_indices(self) -> dict[str, str]:
        """Every index an alias writes to: flagged ``is_write_index``, or the alias's only one."""
        body = self.json("GET", "/_alias?expand_wildcards=all")
        return write_indices(body if isinstance(body, dict) else {})

    def managed(self, names: Sequence[str], distribution: str) -> dict[str, str]:
        """Which of ``names`` ILM or ISM manage; raises if that cannot be told."""
        out: dict[str, str] = {}
        for batch in batches(list(names), len("/_plugins/_ism/explain/")):
            joined = ",".join(quote(n, safe="") for n in batch)
            if distribution == "opensearch":
                body = self.json("GET", f"/_plugins/_ism/explain/{joined}", absent_ok=True)
                for name, info in (body or {}).items():
                    policy = isinstance(info, dict) and (
                        info.get("index.plugins.index_state_management.policy_id")
                        or info.get("index.opendistro.index_state_management.policy_id")
                        or info.get("policy_id")
                    )
                    if policy:
                        out[name] = f"managed by ISM policy {policy}"
            else:
                body = self.json("GET", f"/{joined}/_ilm/explain", absent_ok=True)
                for name, info in ((body or {}).get("indices") or {}).items():
                    if info.get("managed"):
                        out[name] = f"managed by ILM policy {info.get('policy', '?')}"
        return out

    def delete(self, names: Sequence[str]) -> None:
        joined = ",".join(quote(n, safe="") for n in names)
        self.json("DELETE", f"/{joined}{DELETE_PARAMS}")


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('type', '')}: {error.get('reason', '')}".strip(": ")
    return str(error or body)[:200]


def _endpoint_missing(response: requests.Response) -> bool:
    # "no handler found for uri" is how both answer an API they do not have; an unknown index
    # (index_not_found_exception) is not that, and must not be read as "nothing is managed"
    return response.status_code in (400, 404, 405) and "no handler found" in response.text


def delete_old_indices(
    config: ElasticsearchCleanupConfig,
    *,
    now: datetime,
    dry_run: bool = False,
    session: requests.Session | None = None,
) -> DeleteResult:
    """List, decide, delete in batches; a failed batch is recorded and the next one still runs.

    Raises ``ElasticsearchError`` when the cluster cannot be listed or when it cannot be told
    which indices are managed, back a data stream or take an alias's writes: then nothing is
    deleted.
    """
    client = ElasticsearchClient(config, session)
    result = DeleteResult()
    try:
        result.distribution = client.distribution()
        indices = client.indices()
        protected = client.alias_write_indices()
        protected.update(client.data_stream_indices())
        first = decide(
            indices,
            prefixes=config.prefixes,
            retention=config.retention,
            now=now,
            protected=protected,
        )
        candidates = [d.index.name for d in first if d.delete]
        protected.update(client.managed(candidates, result.distribution) if candidates else {})
        result.decisions = decide(
            indices,
            prefixes=config.prefixes,
            retention=config.retention,
            now=now,
            protected=protected,
        )
        chosen = result.candidates
        if dry_run:
            result.deleted = chosen
            return result
        by_name = {index.name: index for index in chosen}
        for batch in batches([i.name for i in chosen], 0):
            try:
                client.delete(batch)
            except ElasticsearchError as exc:
                result.errors.append(f"deleting {len(batch)} indices ({batch[0]}...): {exc}")
            else:
                result.deleted.extend(by_name[name] for name in batch)
    finally:
        client.close()
    return result
