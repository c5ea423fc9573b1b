"""Host metrics with node_exporter's names, read from ``/proc`` under a configurable root.

Filesystem sizes come from ``statvfs``, which blocks for as long as a hard-mounted NFS server
(or a FUSE daemon) does not answer. As node_exporter does, a network or FUSE mount whose call is
still blocked after ``filesystem_mount_timeout`` is marked stuck: the scrape goes on without it,
and later scrapes report it with ``node_filesystem_device_error`` 1 and skip it until that call
returns.

# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.
# TYPE node_memory_MemTotal_bytes gauge
# HELP node_filesystem_size_bytes Filesystem size in bytes.
# TYPE node_filesystem_size_bytes gauge
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from exporter.errors import ExporterError
from stackwatch.config import Config
from stackwatch.filesystems import Mount, list_mounts

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies per mode for one CPU, from a ``cpuN`` line of /proc/stat."""

    cpu: str
    modes: dict[str, int]


@dataclass(frozen=True)
class Stat:
    """The parts of /proc/stat that node_exporter's cpu and stat collectors export."""

    cpus: list[CpuTimes]
    boot_time: int
    context_switches: int
    interrupts: int
    forks: int
    procs_running: int
    procs_blocked: int


def parse_stat(text: str) -> Stat:
    """Parse /proc/stat."""
    cpus: list[CpuTimes] = []
    fields: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        key = parts[0]
        if key.startswith("cpu") and key != "cpu":
            values = [int(v) for v in parts[1 : 1 + len(CPU_MODES)]]
            cpus.append(CpuTimes(key[3:], dict(zip(CPU_MODES, values, strict=False))))
        elif key in ("btime", "ctxt", "processes", "procs_running", "procs_blocked", "intr"):
            fields[key] = int(parts[1])
    missing = {"btime", "procs_running", "procs_blocked"} - fields.keys()
    if missing or not cpus:
        raise ValueError(f"not a /proc/stat file: missing {', '.join(sorted(missing)) or 'cpuN'}")
    return Stat(
        cpus=cpus,
        boot_time=fields["btime"],
        context_switches=fields.get("ctxt", 0),
        interrupts=fields.get("intr", 0),
        forks=fields.get("processes", 0),
        procs_running=fields["procs_running"],
        procs_blocked=fields["procs_blocked"],
    )


_MEMINFO_KEY = re.compile(r"[()]")


def parse_meminfo(text: str) -> dict[str, float]:
    """Parse /proc/meminfo into node_exporter's metric suffixes and values in bytes.

    ``Active(anon):  12 kB`` becomes ``Active_anon_bytes: 12288``; unitless counts such as
    ``HugePages_Total`` keep their name.
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts:
            continue
        name = _MEMINFO_KEY.sub("_", key.strip()).rstrip("_").replace("__", "_")
        value = float(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            out[f"{name}_bytes"] = value * 1024
        else:
            out[name] = value
    if "MemTotal_bytes" not in out:
        raise ValueError("not a /proc/meminfo file: no MemTotal")
    return out


@dataclass(frozen=True)
class LoadAvg:
    load1: float
    load5: float
    load15: float
    threads: int


def parse_loadavg(text: str) -> LoadAvg:
    """Parse /proc/loadavg (``0.10 0.20 0.30 1/234 5678``)."""
    parts = text.split()
    if len(parts) < 4 or "/" not in parts[3]:
        raise ValueError(f"not a /proc/loadavg file: {text.strip()!r}")
    return LoadAvg(float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3].split("/")[1]))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ExporterError(f"{path}: no such file (is exporter.rootfs right?)") from None


log = logging.getLogger(__name__)

StatResult = os.statvfs_result | OSError
# Filesystem types whose statvfs waits on a server or a user-space daemon.
CAN_HANG = re.compile(
    r"^(nfs4?|cifs|smb3?|smbfs|ceph|glusterfs|9p|afs|lustre|gpfs|beegfs|davfs|ncpfs"
    r"|fuse(blk)?(\..+)?)$"
)


def _statvfs(target: str) -> StatResult:
    try:
        return os.statvfs(target)
    except OSError as exc:
        return exc


@dataclass
class _StatBatch:
    """The mounts one worker stats in order, what it has got so far and when its call began."""

    targets: list[str]
    results: dict[str, StatResult] = field(default_factory=dict)
    current: str | None = None
    call_started: float = 0.0
    abandoned: bool = False  # its current call got stuck: another worker has the rest


class MountStats:
    """``statvfs`` of many mount points, no call waited on longer than ``timeout``.

    The calls run in order on a worker thread. When one has been running for ``timeout``, its
    mount is marked stuck, a new worker goes on with the rest, and the blocked one is left to
    finish whenever it can: it unmarks the mount when it does, and then ends.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._changed = threading.Condition()
        self._stuck: set[str] = set()
        self._queue: queue.SimpleQueue[_StatBatch] | None = None

    @property
    def stuck(self) -> set[str]:
        with self._changed:
            return set(self._stuck)

    def _work(self, batches: queue.SimpleQueue[_StatBatch]) -> None:
        while True:
            batch = batches.get()
            for target in batch.targets:
                with self._changed:
                    batch.current, batch.call_started = target, time.monotonic()
                try:
                    result: StatResult = os.statvfs(target)
                except OSError as exc:
                    result = exc
                with self._changed:
                    batch.results[target] = result
                    if target in self._stuck:
                        self._stuck.discard(target)
                        log.info("filesystem %s answers again", target)
                    if batch.abandoned:
                        return  # replaced by another worker
                    if len(batch.results) == len(batch.targets):
                        self._changed.notify_all()

    def _submit(self, batch: _StatBatch) -> None:
        if self._queue is None:
            self._queue = queue.SimpleQueue()
            worker = threading.Thread(
                target=self._work, args=(self._queue,), name="statvfs", daemon=True
            )
            worker.start()
        self._queue.put(batch)

    def _wait(self, batch: _StatBatch) -> str | None:
        """Wait, holding the condition, until the batch is done (None) or a call is stuck."""
        while len(batch.results) < len(batch.targets):
            if batch.current is not None and batch.current not in batch.results:
                remaining = batch.call_started + self.timeout - time.monotonic()
                if remaining <= 0:
                    return batch.current
            else:  # not started yet
                remaining = self.timeout
            self._changed.wait(remaining)
        return None

    def stat_all(self, targets: Sequence[str]) -> dict[str, StatResult]:
        """Results by target; stuck targets (and one that just got stuck) are absent."""
        results: dict[str, StatResult] = {}
        with self._changed:
            pending = [t for t in dict.fromkeys(targets) if t not in self._stuck]
            while pending:
                batch = _StatBatch(pending)
                self._submit(batch)
                blocked = self._wait(batch)
                results.update(batch.results)
                if blocked is None:
                    break
                batch.abandoned = True
                self._queue = None  # its worker is blocked: the next batch gets a new one
                self._stuck.add(blocked)
                log.warning(
                    "filesystem %s: statvfs blocked for over %gs (a hung network mount?); "
                    "reported as a device error until it answers",
                    blocked,
                    self.timeout,
                )
                pending = [t for t in pending if t not in batch.results and t != blocked]
        return results


class HostCollector(Collector):
    """CPU, memory, filesystems, load, boot time, time, uname and process counts."""

    name = "host"

    def __init__(
        self,
        rootfs: Path,
        mount_points_exclude: str,
        fs_types_exclude: str,
        clock_ticks: int | None = None,
        mount_timeout: float = 5.0,
    ) -> None:
        self.rootfs = rootfs
        self.mount_stats = MountStats(mount_timeout)
        self.proc = rootfs / "proc"
        self.mount_points_exclude = re.compile(mount_points_exclude)
        self.fs_types_exclude = re.compile(fs_types_exclude)
        self.clock_ticks = clock_ticks or os.sysconf("SC_CLK_TCK")

    @classmethod
    def from_config(cls, config: Config) -> HostCollector:
        collector = cls(
            config.exporter.rootfs,
            config.exporter.filesystem_mount_points_exclude,
            config.exporter.filesystem_fs_types_exclude,
            mount_timeout=config.exporter.filesystem_mount_timeout,
        )
        collector.check()
        return collector

    def check(self) -> None:
        """Fail at start-up, with the path, when the root has no /proc."""
        for name in ("stat", "meminfo", "loadavg"):
            if not (self.proc / name).is_file():
                raise ExporterError(
                    f"exporter.rootfs: {self.proc / name}: no such file "
                    f"(set exporter.rootfs to the host's root, e.g. /host)"
                )

    def collect(self) -> Iterator[Metric]:
        yield from self._stat()
        yield from self._meminfo()
        yield from self._loadavg()
        yield from self._filesystems()
        yield from self._uname()
        yield GaugeMetricFamily(
            "node_time_seconds", "System time in seconds since epoch (1970).", value=time.time()
        )

    def _stat(self) -> Iterator[Metric]:
        stat = parse_stat(_read(self.proc / "stat"))
        cpu = CounterMetricFamily(
            "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
        )
        for times in stat.cpus:
            for mode, jiffies in times.modes.items():
                cpu.add_metric([times.cpu, mode], jiffies / self.clock_ticks)
        yield cpu
        yield GaugeMetricFamily(
            "node_boot_time_seconds", "Node boot time, in unixtime.", value=stat.boot_time
        )
        yield CounterMetricFamily(
            "node_context_switches_total",
            "Total number of context switches.",
            value=stat.context_switches,
        )
        yield CounterMetricFamily(
            "node_intr_total", "Total number of interrupts serviced.", value=stat.interrupts
        )
        yield CounterMetricFamily("node_forks_total", "Total number of forks.", value=stat.forks)
        yield GaugeMetricFamily(
            "node_procs_running", "Number of processes in runnable state.", value=stat.procs_running
        )
        yield GaugeMetricFamily(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            value=stat.procs_blocked,
        )
        pids = sum(1 for entry in os.scandir(self.proc) if entry.name.isdigit())
        yield GaugeMetricFamily("node_processes_pids", "Number of PIDs", value=pids)

    def _meminfo(self) -> Iterator[Metric]:
        for key, value in parse_meminfo(_read(self.proc / "meminfo")).items():
            yield GaugeMetricFamily(
                f"node_memory_{key}", f"Memory information field {key}.", value=value
            )

    def _loadavg(self) -> Iterator[Metric]:
        load = parse_loadavg(_read(self.proc / "loadavg"))
        yield GaugeMetricFamily("node_load1", "1m load average.", value=load.load1)
        yield GaugeMetricFamily("node_load5", "5m load average.", value=load.load5)
        yield GaugeMetricFamily("node_load15", "15m load average.", value=load.load15)
        yield GaugeMetricFamily(
            "node_processes_threads", "Allocated threads in system", value=load.threads
        )

    def mounts(self) -> list[Mount]:
        """The filesystems to report: node_exporter's default exclusions, one per mount point."""
        try:
            return list_mounts(self.proc, self.mount_points_exclude, self.fs_types_exclude)
        except FileNotFoundError as exc:
            raise ExporterError(
                f"{exc.filename}: no such file (is exporter.rootfs right?)"
            ) from None

    def _filesystems(self) -> Iterator[Metric]:
        labels = ["device", "fstype", "mountpoint"]

        def family(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"node_filesystem_{name}", doc, labels=labels)

        size = family("size_bytes", "Filesystem size in bytes.")
        free = family("free_bytes", "Filesystem free space in bytes.")
        avail = family("avail_bytes", "Filesystem space available to non-root users in bytes.")
        files = family("files", "Filesystem total file nodes.")
        files_free = family("files_free", "Filesystem total free file nodes.")
        readonly = family("readonly", "Filesystem read-only status.")
        error = family(
            "device_error", "Whether an error occurred while getting statistics for the device."
        )
        mounts = self.mounts()
        targets = [str(self.rootfs / mount.mountpoint.lstrip("/")) for mount in mounts]
        # Network and FUSE filesystems can block: their calls run on a worker with a timeout.
        # Local ones answer from memory, so they are called inline (a thread handoff per
        # scrape would cost more than all of their calls together).
        remote = [t for m, t in zip(mounts, targets, strict=True) if CAN_HANG.match(m.fstype)]
        stats = self.mount_stats.stat_all(remote)
        for mount, target in zip(mounts, targets, strict=True):
            values = [mount.device, mount.fstype, mount.mountpoint]
            st = stats.get(target) if target in remote else _statvfs(target)
            if not isinstance(st, os.statvfs_result):  # failed, or stuck
                error.add_metric(values, 1.0)
                continue
            error.add_metric(values, 0.0)
            size.add_metric(values, st.f_blocks * st.f_bsize)
            free.add_metric(values, st.f_bfree * st.f_bsize)
            avail.add_metric(values, st.f_bavail * st.f_bsize)
            files.add_metric(values, st.f_files)
            files_free.add_metric(values, st.f_ffree)
            readonly.add_metric(values, 1.0 if "ro" in mount.options else 0.0)
        yield from (size, free, avail, files, files_free, readonly, error)

    def _uname(self) -> Iterator[Metric]:
        uname = os.uname()
        domain_path = self.proc / "sys" / "kernel" / "domainname"
        domainname = domain_path.read_text().strip() if domain_path.exists() else "(none)"
        info = GaugeMetricFamily(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            labels=["sysname", "release", "version", "machine", "nodename", "domainname"],
        )
        info.add_metric(
            [
                uname.sysname,
                uname.release,
                uname.version,
                uname.machine,
                uname.nodename,
                domainname,
            ],
            1.0,
        )
        yield info
