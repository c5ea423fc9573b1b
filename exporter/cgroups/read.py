"""A running container's usage read from its cgroup files (v2, or v1 where the host has it).

The cgroup is found from the container's PID (``/proc/<pid>/cgroup``), so both Docker cgroup
drivers (``cgroupfs``: ``docker/<id>``, ``systemd``: ``system.slice/docker-<id>.scope``) and a
``--cgroup-parent`` work; the path is cached per container and PID. When the exporter runs in
a cgroup namespace of its own (a container on a v2 host), that file shows a path relative to
it, and the two drivers' usual places are tried instead. A file that is absent (a controller
not enabled, a v1/v2 difference, a kernel without the field) leaves its series out.
"""

from __future__ import annotations

import errno
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from exporter.cgroups.parse import (
    NetDev,
    count_lines,
    parse_blkio,
    parse_cpu_max,
    parse_io_stat,
    parse_keyed,
    parse_net_dev,
    parse_proc_cgroup,
    parse_value,
    pick_keyed,
)

# A container that exits mid-read takes its files with it: those errors mean "absent" too.
ABSENT = {errno.ENOENT, errno.ENOTDIR, errno.ENODEV, errno.ESRCH}
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids")
# memory.stat keys read: RSS, cache, inactive file pages (and v1's swap)
V2_MEMORY = ("anon", "file", "inactive_file")
V1_MEMORY = ("total_rss", "total_cache", "total_inactive_file", "total_swap")
T = TypeVar("T")


def read_file(path: str) -> str | None:
    """A small file's text, or None when it (or its process, or its cgroup) is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in ABSENT:
            return None
        raise
    try:
        return os.read(fd, 65536).decode()
    except OSError as exc:
        if exc.errno in ABSENT:
            return None
        raise
    finally:
        os.close(fd)


@dataclass
class Usage:
    """One container's usage: scalar values by cAdvisor metric name, network and block I/O."""

    values: dict[str, float] = field(default_factory=dict)
    network: dict[str, NetDev] = field(default_factory=dict)
    io: dict[str, tuple[int, int]] = field(default_factory=dict)  # device -> (read, written)


class ContainerFiles:
    """One container's files, kept open and re-read with ``pread`` at offset 0.

    A file whose bytes are what they were at the previous scrape gives the same parse, which
    is reused: an idle container's ``net/dev``, ``io.stat`` and ``memory.stat`` rarely change,
    and comparing bytes costs far less than parsing them again.
    """

    def __init__(self, reader: CgroupReader) -> None:
        self.reader = reader
        self.fds: dict[str, int] = {}  # path -> descriptor, -1 where the file was absent
        self._last: dict[str, tuple[bytes, Any]] = {}  # path -> (bytes, their parse)

    def raw(self, path: str) -> bytes | None:
        """A file's bytes, or None when it (or its cgroup, or its process) is gone."""
        fd = self.fds.get(path)
        if fd is None:
            reader = self.reader
            if reader._fd_count >= reader._fd_budget:
                text = read_file(path)
                return None if text is None else text.encode()
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                if exc.errno not in ABSENT:
                    raise
                fd = -1  # absent now: a controller or field that does not appear later
            else:
                reader._fd_count += 1
            self.fds[path] = fd
        if fd < 0:
            return None
        try:
            return os.pread(fd, 65536, 0)
        except OSError as exc:
            if exc.errno in ABSENT:
                return None
            raise

    def __call__(self, path: str) -> str | None:
        """A file's text, or None when it is gone."""
        data = self.raw(path)
        return None if data is None else data.decode()

    def parsed(self, path: str, parse: Callable[[str], T]) -> T | None:
        """A file parsed (each path always with the same parser), or None when it is gone."""
        data = self.raw(path)
        if data is None:
            return None
        last = self._last.get(path)
        if last is not None and last[0] == data:
            return cast("T", last[1])
        value = parse(data.decode())
        self._last[path] = (data, value)
        return value


class CgroupReader:
    """Reads containers' cgroups under a root filesystem (``exporter.rootfs``)."""

    def __init__(self, rootfs: Path, clock_ticks: int | None = None) -> None:
        self.cgroup_root = str(rootfs / "sys" / "fs" / "cgroup")
        self.proc = str(rootfs / "proc")
        self.block = str(rootfs / "sys" / "dev" / "block")
        self.clock_ticks = clock_ticks or os.sysconf("SC_CLK_TCK")
        # (container id, pid) -> controller -> cgroup folder ("" for v2's one hierarchy)
        self._paths: dict[tuple[str, int], dict[str, str]] = {}
        # (container id, pid) -> its network namespace (device, inode), None if unknown
        self._netns: dict[tuple[str, int], tuple[int, int] | None] = {}
        self._devices: dict[str, str] = {}
        # Each container's files stay open between scrapes and are re-read with pread at
        # offset 0: one system call per file instead of three, and no path lookup. Half the
        # descriptor limit at most; past it, files are opened on each read.
        self._fds: dict[tuple[str, int], ContainerFiles] = {}
        self._fd_budget = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2
        self._fd_count = 0

    def unified(self) -> bool:
        """Whether the host runs cgroup v2 only (not v1, not the v1/v2 hybrid)."""
        return Path(self.cgroup_root, "cgroup.controllers").is_file()

    def forget_except(self, keys: set[tuple[str, int]]) -> None:
        """Drop cached cgroup paths and open files of containers no longer running."""
        self._paths = {k: v for k, v in self._paths.items() if k in keys}
        self._netns = {k: v for k, v in self._netns.items() if k in keys}
        for key in [k for k in self._fds if k not in keys]:
            self._close_files(key)

    def close(self) -> None:
        for key in list(self._fds):
            self._close_files(key)

    def _close_files(self, key: tuple[str, int]) -> None:
        for fd in self._fds.pop(key).fds.values():
            if fd >= 0:
                os.close(fd)
                self._fd_count -= 1

    def _reader(self, key: tuple[str, int]) -> ContainerFiles:
        """The container's kept-open files."""
        files = self._fds.get(key)
        if files is None:
            files = self._fds[key] = ContainerFiles(self)
        return files

    def locate(self, container_id: str, pid: int, unified: bool) -> dict[str, str] | None:
        """Each controller's cgroup folder of a container (cached); None if its PID is gone."""
        key = (container_id, pid)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        text = read_file(f"{self.proc}/{pid}/cgroup")
        if text is None:
            return None
        listed = parse_proc_cgroup(text)
        controllers = ("",) if unified else V1_CONTROLLERS
        paths: dict[str, str] = {}
        for controller in controllers:
            base = f"{self.cgroup_root}/{controller}" if controller else self.cgroup_root
            candidates = [listed[controller]] if controller in listed else []
            candidates += [f"/system.slice/docker-{container_id}.scope", f"/docker/{container_id}"]
            for relative in candidates:
                if "/.." in relative or relative.strip("/") == "":
                    # relative to the exporter's own cgroup namespace, or its root: never the
                    # host's (or the exporter's) whole usage under a container's name
                    continue
                folder = base + relative.rstrip("/")
                if Path(folder).is_dir():
                    paths[controller] = folder
                    break
        self._paths[key] = paths
        return paths

    def device_name(self, device: str) -> str:
        """``/dev/<name>`` of a ``major:minor`` (cAdvisor's ``device``), else the number."""
        name = self._devices.get(device)
        if name is None:
            try:
                name = "/dev/" + Path(self.block, device).readlink().name
            except OSError:
                name = device
            self._devices[device] = name
        return name

    def network_namespace(self, container_id: str, pid: int) -> tuple[int, int] | None:
        """The (device, inode) of a container's network namespace, cached; None if unknown.

        A process's namespace is fixed when it starts, so the cache per container and PID
        holds; containers started with ``--network container:<other>`` share one.
        """
        key = (container_id, pid)
        if key in self._netns:
            return self._netns[key]
        try:
            stat = Path(self.proc, str(pid), "ns", "net").stat()
        except OSError:  # absent (a fake tree), or not ours to see: read it per container
            namespace = None
        else:
            namespace = (stat.st_dev, stat.st_ino)
        self._netns[key] = namespace
        return namespace

    def read(
        self,
        container_id: str,
        pid: int,
        unified: bool,
        networks: dict[tuple[int, int], dict[str, NetDev]] | None = None,
    ) -> Usage | None:
        """A container's usage, or None when its process is gone.

        ``networks`` holds the interfaces of the namespaces read so far in this scrape:
        containers sharing a network namespace read its ``net/dev`` once.
        """
        paths = self.locate(container_id, pid, unified)
        if paths is None:
            return None
        usage = Usage()
        read = self._reader((container_id, pid))
        if unified:
            if "" in paths:
                self._read_v2(read, paths[""], usage)
        else:
            self._read_v1(read, paths, usage)
        if networks is None:
            networks = {}
        namespace = self.network_namespace(container_id, pid)
        shared = networks.get(namespace) if namespace is not None else None
        if shared is not None:
            usage.network = shared
            return usage
        network = read.parsed(f"{self.proc}/{pid}/net/dev", parse_net_dev)
        if network is not None:
            usage.network = network
            if namespace is not None:
                networks[namespace] = usage.network
        return usage

    def _io(self, devices: dict[str, tuple[int, int]], usage: Usage) -> None:
        usage.io = {self.device_name(device): counts for device, counts in devices.items()}

    def _read_v2(self, read: ContainerFiles, folder: str, usage: Usage) -> None:
        values = usage.values
        cpu = read.parsed(f"{folder}/cpu.stat", parse_keyed)
        if cpu is not None:
            for key, name in (
                ("usage_usec", "container_cpu_usage_seconds_total"),
                ("user_usec", "container_cpu_user_seconds_total"),
                ("system_usec", "container_cpu_system_seconds_total"),
                ("throttled_usec", "container_cpu_cfs_throttled_seconds_total"),
            ):
                if key in cpu:
                    values[name] = cpu[key] / 1e6
            _periods(cpu, values)
        text = read(f"{folder}/cpu.max")
        if text is not None:
            quota, period = parse_cpu_max(text)
            _cpu_spec(quota, period, values)
        text = read(f"{folder}/memory.current")
        if text is not None:
            values["container_memory_usage_bytes"] = float(int(text))
            stat = read.parsed(f"{folder}/memory.stat", _pick_v2) or {}
            _memory(values, stat, *V2_MEMORY)
        text = read(f"{folder}/memory.swap.current")
        if text is not None:
            values["container_memory_swap"] = float(int(text))
        events = read.parsed(f"{folder}/memory.events", parse_keyed)
        if events is not None:
            _copy(events, "max", values, "container_memory_failcnt")
            _copy(events, "oom_kill", values, "container_oom_events_total")
        text = read(f"{folder}/memory.max")
        if text is not None:
            values["container_spec_memory_limit_bytes"] = float(parse_value(text) or 0)
        devices = read.parsed(f"{folder}/io.stat", parse_io_stat)
        if devices is not None:
            self._io(devices, usage)
        _tasks(read, folder, folder, values)

    def _read_v1(self, read: ContainerFiles, paths: dict[str, str], usage: Usage) -> None:
        values = usage.values
        if "cpuacct" in paths:
            folder = paths["cpuacct"]
            text = read(f"{folder}/cpuacct.usage")
            if text is not None:
                values["container_cpu_usage_seconds_total"] = int(text) / 1e9
            stat = read.parsed(f"{folder}/cpuacct.stat", parse_keyed) or {}
            for key, name in (
                ("user", "container_cpu_user_seconds_total"),
                ("system", "container_cpu_system_seconds_total"),
            ):
                if key in stat:
                    values[name] = stat[key] / self.clock_ticks
        if "cpu" in paths:
            folder = paths["cpu"]
            cpu = read.parsed(f"{folder}/cpu.stat", parse_keyed) or {}
            _periods(cpu, values)
            if "throttled_time" in cpu:
                values["container_cpu_cfs_throttled_seconds_total"] = cpu["throttled_time"] / 1e9
            quota = read(f"{folder}/cpu.cfs_quota_us")
            period = read(f"{folder}/cpu.cfs_period_us")
            if quota is not None and period is not None:
                _cpu_spec(None if int(quota) < 0 else int(quota), int(period), values)
        if "memory" in paths:
            self._read_v1_memory(read, paths["memory"], values)
        if "blkio" in paths:
            folder = paths["blkio"]
            recursive = f"{folder}/blkio.throttle.io_service_bytes_recursive"
            devices = read.parsed(recursive, parse_blkio)
            if devices is None:
                devices = read.parsed(f"{folder}/blkio.throttle.io_service_bytes", parse_blkio)
            if devices is not None:
                self._io(devices, usage)
        tasks = paths.get("pids") or paths.get("memory") or paths.get("cpu")
        if tasks is not None:
            _tasks(read, tasks, paths.get("pids"), values)

    @staticmethod
    def _read_v1_memory(read: ContainerFiles, folder: str, values: dict[str, float]) -> None:
        text = read(f"{folder}/memory.usage_in_bytes")
        if text is not None:
            values["container_memory_usage_bytes"] = float(int(text))
            stat = read.parsed(f"{folder}/memory.stat", _pick_v1) or {}
            _memory(values, stat, *V1_MEMORY[:3])
            _copy(stat, "total_swap", values, "container_memory_swap")
        text = read(f"{folder}/memory.failcnt")
        if text is not None:
            values["container_memory_failcnt"] = float(int(text))
        oom = read.parsed(f"{folder}/memory.oom_control", parse_keyed) or {}
        _copy(oom, "oom_kill", values, "container_oom_events_total")
        text = read(f"{folder}/memory.limit_in_bytes")
        if text is not None:
            values["container_spec_memory_limit_bytes"] = float(parse_value(text) or 0)


def _pick_v2(text: str) -> dict[str, int]:
    return pick_keyed(text, V2_MEMORY)


def _pick_v1(text: str) -> dict[str, int]:
    return pick_keyed(text, V1_MEMORY)


def _copy(source: dict[str, int], key: str, values: dict[str, float], name: str) -> None:
    if key in source:
        values[name] = float(source[key])


def _periods(cpu: dict[str, int], values: dict[str, float]) -> None:
    _copy(cpu, "nr_periods", values, "container_cpu_cfs_periods_total")
    _copy(cpu, "nr_throttled", values, "container_cpu_cfs_throttled_periods_total")


def _cpu_spec(quota: int | None, period: int, values: dict[str, float]) -> None:
    """cAdvisor's spec: the period always, the quota only when one is set."""
    values["container_spec_cpu_period"] = float(period)
    if quota:
        values["container_spec_cpu_quota"] = float(quota)


def _memory(
    values: dict[str, float], stat: dict[str, int], rss: str, cache: str, inactive: str
) -> None:
    """RSS, cache and cAdvisor's working set: usage less inactive file pages, never below 0."""
    _copy(stat, rss, values, "container_memory_rss")
    _copy(stat, cache, values, "container_memory_cache")
    usage = values["container_memory_usage_bytes"]
    values["container_memory_working_set_bytes"] = max(0.0, usage - stat.get(inactive, 0))


def _tasks(read: ContainerFiles, folder: str, pids: str | None, values: dict[str, float]) -> None:
    """Processes from ``cgroup.procs``; threads from ``pids.current`` as cAdvisor counts them."""
    text = read(f"{folder}/cgroup.procs")
    if text is not None:
        values["container_processes"] = float(count_lines(text))
    text = read(f"{pids}/pids.current") if pids else None
    if text is not None:
        values["container_threads"] = float(int(text))
