"""k3s nodes, pods and deployments with kube-state-metrics' names and label sets.

The API is read in a background thread every ``refresh_interval``: lists are paginated with
``limit``/``continue``, read as raw JSON (typed model parsing of a 2,000-pod list takes seconds)
and every call has a client timeout. A scrape serves the latest snapshot, so a slow or hanging
API server never slows a scrape; when the latest refresh failed the collector fails, and the
snapshot's age is exported so a stuck refresh shows.

# HELP kube_node_status_condition The condition of a cluster node.
# TYPE kube_node_status_condition gauge
# HELP kube_pod_status_phase The pods current phase.
# TYPE kube_pod_status_phase gauge
# HELP kube_pod_status_ready Describes whether the pod is ready to serve requests.
# TYPE kube_pod_status_ready gauge
# HELP kube_pod_container_status_restarts_total The number of container restarts per container.
# TYPE kube_pod_container_status_restarts_total counter
# HELP kube_pod_container_status_waiting_reason Describes the reason the container is waiting.
# TYPE kube_pod_container_status_waiting_reason gauge
# HELP kube_deployment_spec_replicas Number of desired pods for a deployment.
# TYPE kube_deployment_spec_replicas gauge
# HELP kube_deployment_status_replicas_available The number of available replicas.
# TYPE kube_deployment_status_replicas_available gauge
# HELP kube_deployment_status_replicas_unavailable The number of unavailable replicas.
# TYPE kube_deployment_status_replicas_unavailable gauge
# HELP stackwatch_kubernetes_snapshot_age_seconds Seconds since the served snapshot was read.
# TYPE stackwatch_kubernetes_snapshot_age_seconds gauge
# HELP stackwatch_kubernetes_refresh_duration_seconds How long reading the snapshot took.
# TYPE stackwatch_kubernetes_refresh_duration_seconds gauge
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import urllib3
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from exporter.collectors.base import Collector
from exporter.errors import ExporterError
from exporter.refresh import RefreshLoop
from stackwatch.config import Config, KubernetesConfig

if TYPE_CHECKING:
    import kubernetes.client

CONDITION_STATUSES = ("true", "false", "unknown")
POD_PHASES = ("Pending", "Succeeded", "Failed", "Running", "Unknown")


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
class Family:
    """One metric family's precomputed samples; each scrape wraps them in a fresh Metric."""

    name: str
    documentation: str
    type: str
    samples: tuple[Sample, ...]

    def metric(self) -> Metric:
        metric = Metric(self.name, self.documentation, self.type)
        metric.samples = list(self.samples)
        return metric


class _Builder:
    """Collects samples per family while walking the API objects."""

    def __init__(self) -> None:
        self.samples: dict[str, list[Sample]] = {}

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        self.samples.setdefault(name, []).append(Sample(name, labels, value, None, None))

    def family(self, name: str, documentation: str, kind: str = "gauge") -> Family:
        sample_name = f"{name}_total" if kind == "counter" else name
        return Family(name, documentation, kind, tuple(self.samples.get(sample_name, ())))


def _condition_status(value: object) -> str:
    status = str(value or "").lower()
    return status if status in CONDITION_STATUSES else "unknown"


def parse_nodes(nodes: Iterable[Mapping[str, Any]], out: _Builder) -> None:
    """``kube_node_status_condition`` one-hot over true/false/unknown for each condition."""
    for node in nodes:
        name = node["metadata"]["name"]
        for condition in (node.get("status") or {}).get("conditions") or []:
            status = _condition_status(condition.get("status"))
            for candidate in CONDITION_STATUSES:
                out.add(
                    "kube_node_status_condition",
                    {
                        "node": name,
                        "condition": str(condition.get("type", "")),
                        "status": candidate,
                    },
                    1.0 if candidate == status else 0.0,
                )


def parse_pods(pods: Iterable[Mapping[str, Any]], out: _Builder) -> None:
    """Phase, readiness, and per-container restarts and waiting reasons."""
    for pod in pods:
        meta = pod["metadata"]
        base = {"namespace": meta["namespace"], "pod": meta["name"], "uid": meta.get("uid", "")}
        status = pod.get("status") or {}
        phase = status.get("phase")
        if phase:
            for candidate in POD_PHASES:
                out.add(
                    "kube_pod_status_phase",
                    {**base, "phase": candidate},
                    1.0 if candidate == phase else 0.0,
                )
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Ready":
                ready = _condition_status(condition.get("status"))
                for candidate in CONDITION_STATUSES:
                    out.add(
                        "kube_pod_status_ready",
                        {**base, "condition": candidate},
                        1.0 if candidate == ready else 0.0,
                    )
        for container in status.get("containerStatuses") or []:
            labels = {**base, "container": container["name"]}
            out.add(
                "kube_pod_container_status_restarts_total",
                labels,
                float(container.get("restartCount") or 0),
            )
            waiting = (container.get("state") or {}).get("waiting")
            if waiting is not None and waiting.get("reason"):
                out.add(
                    "kube_pod_container_status_waiting_reason",
                    {**labels, "reason": str(waiting["reason"])},
                    1.0,
                )


def parse_deployments(deployments: Iterable[Mapping[str, Any]], out: _Builder) -> None:
    """Desired, available and unavailable replicas; the API omits zero counts."""
    for deployment in deployments:
        meta = deployment["metadata"]
        labels = {"namespace": meta["namespace"], "deployment": meta["name"]}
        spec = deployment.get("spec") or {}
        status = deployment.get("status") or {}
        replicas = spec.get("replicas")
        out.add("kube_deployment_spec_replicas", labels, float(1 if replicas is None else replicas))
        out.add(
            "kube_deployment_status_replicas_available",
            labels,
            float(status.get("availableReplicas") or 0),
        )
        out.add(
            "kube_deployment_status_replicas_unavailable",
            labels,
            float(status.get("unavailableReplicas") or 0),
        )


def build_families(
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    deployments: Iterable[Mapping[str, Any]],
) -> tuple[Family, ...]:
    """Every kube-state-metrics family this collector exports, from raw API objects."""
    out = _Builder()
    parse_nodes(nodes, out)
    parse_pods(pods, out)
    parse_deployments(deployments, out)
    return (
        out.family("kube_node_status_condition", "The condition of a cluster node."),
        out.family("kube_pod_status_phase", "The pods current phase."),
        out.family(
            "kube_pod_status_ready", "Describes whether the pod is ready to serve requests."
        ),
        out.family(
            "kube_pod_container_status_restarts",
            "The number of container restarts per container.",
            "counter",
        ),
        out.family(
            "kube_pod_container_status_waiting_reason",
            "Describes the reason the container is currently in waiting state.",
        ),
        out.family("kube_deployment_spec_replicas", "Number of desired pods for a deployment."),
        out.family(
            "kube_deployment_status_replicas_available",
            "The number of available replicas per deployment.",
        ),
        out.family(
            "kube_deployment_status_replicas_unavailable",
            "The number of unavailable replicas per deployment.",
        ),
    )


@dataclass(frozen=True)
class Snapshot:
    """The families read by one refresh, and when."""

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
        self._snapshot: Snapshot | None = None
        self._error: str | None = None
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

    def _list(self, method: Callable[..., Any]) -> list[dict[str, Any]]:
        """Every item of a list call, page by page, parsed from the raw JSON body."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size}
            if token:
                kwargs["_continue"] = token
            response = method(**kwargs, _preload_content=False, _request_timeout=self.timeout)
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items

    def read(self) -> Snapshot:
        """Read nodes, pods and deployments now and build the families."""
        import kubernetes.client

        started = time.monotonic()
        if self._client is None:
            self._client = self._client_factory()
        core = kubernetes.client.CoreV1Api(self._client)
        apps = kubernetes.client.AppsV1Api(self._client)
        nodes = self._list(core.list_node)
        pods = self._list(core.list_pod_for_all_namespaces)
        deployments = self._list(apps.list_deployment_for_all_namespaces)
        families = build_families(nodes, pods, deployments)
        return Snapshot(families, time.time(), time.monotonic() - started)

    def refresh(self) -> None:
        """Replace the snapshot, or record why it could not be read."""
        try:
            self._snapshot = self.read()
        except refresh_errors() as exc:
            self._error = describe_error(exc)
        else:
            self._error = None

    def collect(self) -> Iterator[Metric]:
        snapshot, error = self._snapshot, self._error
        if error is not None:
            raise KubernetesError(f"refreshing the cluster snapshot failed: {error}")
        if snapshot is None:
            raise KubernetesError("no cluster snapshot yet: the first refresh has not finished")
        age = time.time() - snapshot.taken_at
        if age > self.max_age:
            raise KubernetesError(f"the cluster snapshot is {age:.0f}s old: refresh is stuck")
        for family in snapshot.families:
            yield family.metric()
        yield GaugeMetricFamily(
            "stackwatch_kubernetes_snapshot_age_seconds",
            "Seconds since the served cluster snapshot was read from the API.",
            value=age,
        )
        yield GaugeMetricFamily(
            "stackwatch_kubernetes_refresh_duration_seconds",
            "How long reading the served cluster snapshot from the API took.",
            value=snapshot.duration,
        )
