"""Running containers' CPU, memory, network, block I/O and tasks with cAdvisor's names.

Read from cgroup files (v2, or v1 where the host has it) and ``/proc/<pid>/net/dev`` under
``exporter.rootfs``, never from Docker's stats API; which containers run, and their PIDs, come
from the Docker collector's container view, so a scrape makes no Docker API call of its own.
Labels are the Docker collector's (``name``, ``image``, ``id``, compose labels).

# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.
# TYPE container_cpu_usage_seconds_total counter
# HELP container_memory_working_set_bytes Current working set in bytes.
# TYPE container_memory_working_set_bytes gauge
# HELP container_spec_memory_limit_bytes Memory limit for the container.
# TYPE container_spec_memory_limit_bytes gauge
# HELP container_network_receive_bytes_total Cumulative count of bytes received
# TYPE container_network_receive_bytes_total counter
# HELP container_fs_reads_bytes_total Cumulative count of bytes read
# TYPE container_fs_reads_bytes_total counter
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from exporter.cgroups.parse import NetDev
from exporter.cgroups.read import CgroupReader
from exporter.collectors.base import Collector
from exporter.collectors.docker import series_labels
from exporter.containers.model import Container
from exporter.containers.view import ContainerView, build_client
from stackwatch.config import Config

# (name, HELP, type) as cAdvisor exposes them, in exposition order
SCALARS = (
    ("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", "counter"),
    (
        "container_cpu_user_seconds_total",
        "Cumulative user cpu time consumed in seconds.",
        "counter",
    ),
    (
        "container_cpu_system_seconds_total",
        "Cumulative system cpu time consumed in seconds.",
        "counter",
    ),
    (
        "container_cpu_cfs_periods_total",
        "Number of elapsed enforcement period intervals.",
        "counter",
    ),
    (
        "container_cpu_cfs_throttled_periods_total",
        "Number of throttled period intervals.",
        "counter",
    ),
    (
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled.",
        "counter",
    ),
    (
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        "gauge",
    ),
    ("container_memory_working_set_bytes", "Current working set in bytes.", "gauge"),
    ("container_memory_rss", "Size of RSS in bytes.", "gauge"),
    ("container_memory_cache", "Number of bytes of page cache memory.", "gauge"),
    ("container_memory_swap", "Container swap usage in bytes.", "gauge"),
    # a counter in cAdvisor, but one without _total, which the text format's counter type
    # (HELP and TYPE name the family plus _total) cannot carry: untyped keeps the name
    ("container_memory_failcnt", "Number of memory usage hits limits", "unknown"),
    (
        "container_oom_events_total",
        "Count of out of memory events observed for the container",
        "counter",
    ),
    ("container_spec_memory_limit_bytes", "Memory limit for the container.", "gauge"),
    ("container_spec_cpu_quota", "CPU quota of the container.", "gauge"),
    ("container_spec_cpu_period", "CPU period of the container.", "gauge"),
    ("container_processes", "Number of processes running inside the container.", "gauge"),
    ("container_threads", "Number of threads running inside the container", "gauge"),
)
# A Sample built as a plain tuple: namedtuple's __new__ with its defaults costs twice as much,
# over the thousands of samples of a hundred containers.
_TAIL = (None,) * (len(Sample._fields) - 3)  # timestamp, exemplar, ...
_new = tuple.__new__

CPU = "container_cpu_usage_seconds_total"
# cAdvisor shows CFS counters only for a container with a CPU quota
CFS = {
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_cpu_cfs_throttled_seconds_total",
}
# (name, HELP, NetDev field), all counters labelled by interface
NETWORK = (
    ("container_network_receive_bytes_total", "Cumulative count of bytes received", "rx_bytes"),
    (
        "container_network_receive_packets_total",
        "Cumulative count of packets received",
        "rx_packets",
    ),
    (
        "container_network_receive_packets_dropped_total",
        "Cumulative count of packets dropped while receiving",
        "rx_dropped",
    ),
    (
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        "rx_errors",
    ),
    ("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", "tx_bytes"),
    (
        "container_network_transmit_packets_total",
        "Cumulative count of packets transmitted",
        "tx_packets",
    ),
    (
        "container_network_transmit_packets_dropped_total",
        "Cumulative count of packets dropped while transmitting",
        "tx_dropped",
    ),
    (
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        "tx_errors",
    ),
)
FS = (
    ("container_fs_reads_bytes_total", "Cumulative count of bytes read", 0),
    ("container_fs_writes_bytes_total", "Cumulative count of bytes written", 1),
)


class SeriesLabels:
    """One container's label sets: the Docker collector's, plus ``cpu``, interface, device."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.base = series_labels(container)
        self.cpu = {**self.base, "cpu": "total"}
        self._extra: dict[tuple[str, str], dict[str, str]] = {}

    def with_label(self, label: str, value: str) -> dict[str, str]:
        key = (label, value)
        labels = self._extra.get(key)
        if labels is None:
            labels = self._extra[key] = {**self.base, label: value}
        return labels


def family(name: str, doc: str, kind: str) -> Metric:
    """A fresh family; a counter's family name drops ``_total``, which its samples keep."""
    return Metric(name.removesuffix("_total") if kind == "counter" else name, doc, kind)


class CgroupsCollector(Collector):
    """Usage of each running container from its cgroup, with cAdvisor's names and labels.

    It reads the container view of the Docker collector when both run (``share_view``; the
    Docker collector's scrape, which comes first, keeps it current), else keeps its own.
    """

    name = "cgroups"

    def __init__(self, rootfs: Path, view: ContainerView, clock_ticks: int | None = None) -> None:
        self.reader = CgroupReader(rootfs, clock_ticks)
        self.view = view
        self._owns_view = True
        self._lock = threading.Lock()  # the reader's caches: one scrape at a time
        # each container's label sets, reused while its view entry is unchanged
        self._labels: dict[str, SeriesLabels] = {}

    @classmethod
    def from_config(cls, config: Config) -> CgroupsCollector:
        docker_config = config.docker
        view = ContainerView(
            functools.partial(build_client, docker_config.host, docker_config.timeout),
            watch_events=docker_config.events,
            resync_interval=docker_config.resync_interval,
        )
        return cls(config.exporter.rootfs, view)

    def share_view(self, view: ContainerView) -> None:
        """Read another collector's container view instead of keeping one (no API calls)."""
        self.view.close()
        self.view = view
        self._owns_view = False

    def start(self) -> None:
        if self._owns_view:
            self.view.start()

    def close(self) -> None:
        if self._owns_view:
            self.view.close()
        with self._lock:
            self.reader.close()

    def collect(self) -> Iterator[Metric]:
        containers = self.view.containers() if self._owns_view else self.view.current()
        scalars = {name: family(name, doc, kind) for name, doc, kind in SCALARS}
        network = {name: family(name, doc, "counter") for name, doc, _ in NETWORK}
        fs = {name: family(name, doc, "counter") for name, doc, _ in FS}
        with self._lock:
            unified = self.reader.unified()
            running = {(c.id, c.inspected.pid) for c in containers if c.state == "running"}
            networks: dict[tuple[int, int], dict[str, NetDev]] = {}  # one read per namespace
            for container in containers:
                pid = container.inspected.pid
                if container.state != "running" or pid <= 0:
                    continue
                usage = self.reader.read(container.id, pid, unified, networks)
                if usage is None:
                    continue  # exited since the view was read
                labels = self._labels.get(container.id)
                if labels is None or labels.container != container:
                    labels = self._labels[container.id] = SeriesLabels(container)
                quota = "container_spec_cpu_quota" in usage.values
                for name, number in usage.values.items():
                    if name == CPU:  # cAdvisor's per-CPU label, "total" with per-CPU usage off
                        scalars[name].samples.append(
                            _new(Sample, (name, labels.cpu, number, *_TAIL))
                        )
                    elif quota or name not in CFS:
                        scalars[name].samples.append(
                            _new(Sample, (name, labels.base, number, *_TAIL))
                        )
                for interface, counters in usage.network.items():
                    interface_labels = labels.with_label("interface", interface)
                    for name, _, field in NETWORK:
                        value = float(getattr(counters, field))
                        network[name].samples.append(
                            _new(Sample, (name, interface_labels, value, *_TAIL))
                        )
                for device, counts in usage.io.items():
                    device_labels = labels.with_label("device", device)
                    for name, _, index in FS:
                        value = float(counts[index])
                        fs[name].samples.append(_new(Sample, (name, device_labels, value, *_TAIL)))
            self.reader.forget_except(running)
            listed = {c.id for c in containers}
            self._labels = {k: v for k, v in self._labels.items() if k in listed}
        yield from scalars.values()
        yield from network.values()
        yield from fs.values()
