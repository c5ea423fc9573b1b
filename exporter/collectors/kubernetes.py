"""k3s cluster state with kube-state-metrics' names and label sets, one list per resource kind.

The API is read in a background thread every ``refresh_interval``: each kind of
``exporter.kube.kinds.KINDS`` is listed on its own, paginated with ``limit``/``continue``, read as
raw JSON (typed model parsing of a 2,000-pod list takes seconds) and every call has a client
timeout. A scrape serves the latest families of each kind, so a slow or hanging API server never
slows a scrape. A kind whose latest list failed (a 403 for a resource the role lacks) keeps its
last families while they are younger than ``max_age``, flagged by
``stackwatch_kubernetes_list_success{resource} 0``; the other kinds are unaffected. When every
kind's latest list failed, or the refresh is stuck, the collector fails.

# HELP stackwatch_kubernetes_list_success Whether the latest list of a resource kind succeeded.
# TYPE stackwatch_kubernetes_list_success gauge
# HELP stackwatch_kubernetes_list_age_seconds Seconds since the served list of a kind was read.
# TYPE stackwatch_kubernetes_list_age_seconds gauge
# HELP stackwatch_kubernetes_snapshot_age_seconds Seconds since the latest refresh finished.
# TYPE stackwatch_kubernetes_snapshot_age_seconds gauge
# HELP stackwatch_kubernetes_refresh_duration_seconds How long the latest refresh took.
# TYPE stackwatch_kubernetes_refresh_duration_seconds gauge

The kube_* families and their HELP and TYPE lines are in ``exporter/kube/`` (docs/metrics.md).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import urllib3
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from exporter.errors import ExporterError
from exporter.kube.families import Family
from exporter.kube.kinds import KINDS, Kind
from exporter.refresh import RefreshLoop
from stackwatch.config import Config, KubernetesConfig

if TYPE_CHECKING:
    import kubernetes.client

log = logging.getLogger(__name__)


def refresh_errors() -> tuple[type[BaseException], ...]:
    """Errors a refresh can meet: API status errors, transport errors and timeouts, unreadable
    or missing kubeconfig, and JSON that is not the object list it should be."""
    # imported here: the client library is large and the collector is off by default
    import kubernetes.client
    import kubernetes.config

    return (
        kubernetes.client.ApiException,
        kubernetes.config.ConfigException,
        urllib3.exceptions.HTTPError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
    )


class KubernetesError(ExporterError):
    """The cluster snapshot is missing, stale, or its latest refresh failed."""


@dataclass(frozen=True)
class Snapshot:
    """The families of one kind read by one list, and when."""

    families: tuple[Family, ...]
    taken_at: float
    duration: float


def describe_error(exc: BaseException) -> str:
    """A one-line description that stays the same while the failure does (logged per change)."""
    import kubernetes.client

    if isinstance(exc, kubernetes.client.ApiException):
        # str() would include the response headers, whose Date changes on every call
        message = ""
        try:
            message = str(json.loads(exc.body or "").get("message") or "")
        except (ValueError, AttributeError):
            message = ""
        reason = f"HTTP {exc.status} {exc.reason or ''}".strip()
        return f"{reason}: {message}" if message else reason
    return f"{type(exc).__name__}: {exc}"


def build_api_client(config: KubernetesConfig) -> kubernetes.client.ApiClient:
    """An API client from in-cluster config or a kubeconfig; reads files, makes no request."""
    import kubernetes.client
    import kubernetes.config

    configuration = kubernetes.client.Configuration()
    if config.in_cluster:
        kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    else:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(config.kubeconfig) if config.kubeconfig else None,
            context=config.context,
            client_configuration=configuration,
            persist_config=False,
        )
    # A failed refresh is tried again on the next interval, not retried inside this one.
    configuration.retries = False
    return kubernetes.client.ApiClient(configuration)


def list_path(kind: Kind) -> str:
    """The URL path of a kind's list for all namespaces, as the generated list methods call it."""
    if not kind.group:
        return f"/api/{kind.version}/{kind.resource}"
    return f"/apis/{kind.group}/{kind.version}/{kind.resource}"


class KubernetesCollector(Collector):
    """Serves the latest snapshot of the cluster, refreshed in the background."""

    name = "kubernetes"

    def __init__(
        self,
        client_factory: Callable[[], kubernetes.client.ApiClient],
        refresh_interval: float = 30.0,
        timeout: float = 10.0,
        page_size: int = 500,
    ) -> None:
        self._client_factory = client_factory
        self._client: kubernetes.client.ApiClient | None = None
        self.refresh_interval = refresh_interval
        self.timeout = timeout
        self.page_size = page_size
        self._snapshots: dict[str, Snapshot] = {}
        # each kind's latest error; None once its latest list succeeded
        self._errors: dict[str, str | None] = {}
        self._logged: dict[str, str | None] = {}
        self._refreshed_at: float | None = None
        self._refresh_duration = 0.0
        self._loop = RefreshLoop(
            "k8s-refresh", refresh_interval, self.refresh, join_timeout=timeout + 1
        )

    @classmethod
    def from_config(cls, config: Config) -> KubernetesCollector:
        k8s = config.kubernetes
        return cls(
            functools.partial(build_api_client, k8s),
            refresh_interval=k8s.refresh_interval,
            timeout=k8s.timeout,
            page_size=k8s.page_size,
        )

    @property
    def max_age(self) -> float:
        """Beyond this age the refresh thread is stuck and the snapshot is not served."""
        return 2 * self.refresh_interval + 10 * self.timeout

    def start(self) -> None:
        self._loop.start()

    def close(self) -> None:
        self._loop.close()
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client = None

    def _list(self, client: kubernetes.client.ApiClient, path: str) -> list[dict[str, Any]]:
        """Every item of a list call, page by page, parsed from the raw JSON body."""
        import kubernetes.client

        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("continue", token)] if token else []
            query.append(("limit", self.page_size))
            # What the generated list methods do without preloading: their API classes
            # (CoreV1Api's module and its models) would add some 30 MB to the exporter.
            request = client.param_serialize(
                method="GET",
                resource_path=path,
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            raw = client.call_api(*request, _request_timeout=self.timeout)
            if not 200 <= raw.status <= 299:
                raw.read()  # type: ignore[no-untyped-call]
                raise kubernetes.client.ApiException.from_response(
                    http_resp=raw, body=None, data=None
                )
            response: Any = raw.response
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items

    def read(self, kind: Kind) -> Snapshot:
        """List one kind now and build its families."""
        started = time.monotonic()
        if self._client is None:
            self._client = self._client_factory()
        items = self._list(self._client, list_path(kind))
        return Snapshot(kind.families(items), time.time(), time.monotonic() - started)

    def _log(self, errors: dict[str, str | None]) -> None:
        """Log each kind's failure and recovery once; a failure of every kind is the
        collector's, logged by the scrape guard."""
        if all(error is not None for error in errors.values()):
            return
        for resource, error in errors.items():
            previous = self._logged.get(resource)
            if error != previous:
                if error is not None:
                    log.warning("listing %s failed: %s", resource, error)
                else:
                    log.info("listing %s recovered", resource)
            self._logged[resource] = error

    def refresh(self) -> None:
        """List every kind; a failure is recorded for that kind and the others carry on."""
        started = time.monotonic()
        errors: dict[str, str | None] = {}
        unreachable: str | None = None
        for kind in KINDS:
            if unreachable is not None:
                # the API did not answer at all: the next lists would only wait for it too
                errors[kind.resource] = unreachable
                continue
            try:
                self._snapshots[kind.resource] = self.read(kind)
            except refresh_errors() as exc:
                errors[kind.resource] = describe_error(exc)
                if not _answered(exc):
                    unreachable = errors[kind.resource]
            else:
                errors[kind.resource] = None
        self._errors = errors
        self._refreshed_at = time.time()
        self._refresh_duration = time.monotonic() - started
        self._log(errors)

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        errors, snapshots, refreshed_at = (
            dict(self._errors),
            dict(self._snapshots),
            self._refreshed_at,
        )
        failed = [kind.resource for kind in KINDS if errors.get(kind.resource) is not None]
        if failed and len(failed) == len(KINDS):
            raise KubernetesError(f"refreshing the cluster snapshot failed: {errors[failed[0]]}")
        if refreshed_at is None:
            raise KubernetesError("no cluster snapshot yet: the first refresh has not finished")
        age = now - refreshed_at
        if age > self.max_age:
            raise KubernetesError(f"the cluster snapshot is {age:.0f}s old: refresh is stuck")
        success = GaugeMetricFamily(
            "stackwatch_kubernetes_list_success",
            "Whether the latest list of a resource kind from the API succeeded.",
            labels=["resource"],
        )
        list_age = GaugeMetricFamily(
            "stackwatch_kubernetes_list_age_seconds",
            "Seconds since the served list of a resource kind was read from the API.",
            labels=["resource"],
        )
        for kind in KINDS:
            success.add_metric([kind.resource], 0.0 if kind.resource in failed else 1.0)
            snapshot = snapshots.get(kind.resource)
            if snapshot is None or now - snapshot.taken_at > self.max_age:
                continue  # never read, or too stale to serve: its series go absent
            list_age.add_metric([kind.resource], now - snapshot.taken_at)
            for family in snapshot.families:
                yield family.metric()
        yield success
        yield list_age
        yield GaugeMetricFamily(
            "stackwatch_kubernetes_snapshot_age_seconds",
            "Seconds since the latest refresh of the cluster snapshot finished.",
            value=age,
        )
        yield GaugeMetricFamily(
            "stackwatch_kubernetes_refresh_duration_seconds",
            "How long the latest refresh of the cluster snapshot took.",
            value=self._refresh_duration,
        )


def _answered(exc: BaseException) -> bool:
    """Whether the API server answered (an HTTP status), rather than timing out or refusing."""
    import kubernetes.client

    return isinstance(exc, kubernetes.client.ApiException) and bool(exc.status)
