"""Pure parsers of cgroup files (v1 and v2) and of ``/proc/<pid>/{cgroup,net/dev}``."""

from __future__ import annotations

from dataclasses import dataclass

# cgroup v1 writes "no limit" as the largest page-aligned int64; v2 writes "max".
UNLIMITED = 1 << 62


def parse_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (cpu.stat, memory.stat, memory.events, cpuacct.stat, oom_control)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value:
            try:
                values[key] = int(value)
            except ValueError:
                continue  # a field this parser does not know the shape of
    return values


def pick_keyed(text: str, keys: tuple[str, ...]) -> dict[str, int]:
    """The given keys of a ``key value`` file: memory.stat has ~40 lines, a scrape needs 4."""
    values: dict[str, int] = {}
    for key in keys:
        needle = key + " "
        if text.startswith(needle):
            start = len(needle)
        else:
            found = text.find("\n" + needle)
            if found < 0:
                continue
            start = found + 1 + len(needle)
        end = text.find("\n", start)
        values[key] = int(text[start:] if end < 0 else text[start:end])
    return values


def parse_value(text: str) -> int | None:
    """A one-number file; None for v2's ``max`` and v1's "no limit" (cAdvisor reports 0)."""
    word = text.strip()
    if word == "max":
        return None
    number = int(word)
    return None if number >= UNLIMITED else number


def parse_cpu_max(text: str) -> tuple[int | None, int]:
    """v2 ``cpu.max``: the quota in microseconds (None for ``max``) and the period."""
    quota, _, period = text.strip().partition(" ")
    return (None if quota == "max" else int(quota)), int(period)


def count_lines(text: str) -> int:
    """Entries of ``cgroup.procs``, ``cgroup.threads`` or ``tasks``."""
    return sum(1 for line in text.splitlines() if line.strip())


def parse_io_stat(text: str) -> dict[str, tuple[int, int]]:
    """v2 ``io.stat``: bytes (read, written) per ``major:minor``."""
    devices: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        device, *fields = line.split()
        stats = dict(field.partition("=")[::2] for field in fields)
        devices[device] = (int(stats.get("rbytes", 0)), int(stats.get("wbytes", 0)))
    return devices


def parse_blkio(text: str) -> dict[str, tuple[int, int]]:
    """v1 ``blkio.throttle.io_service_bytes``: bytes (read, written) per ``major:minor``."""
    devices: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue  # the "Total N" line
        device, operation, number = fields
        read, written = devices.get(device, (0, 0))
        if operation == "Read":
            read = int(number)
        elif operation == "Write":
            written = int(number)
        else:
            continue
        devices[device] = (read, written)
    return devices


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup``: each controller's path; v2's unified hierarchy is ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


@dataclass(frozen=True)
class NetDev:
    """One interface's counters from ``/proc/<pid>/net/dev``."""

    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


def parse_net_dev(text: str) -> dict[str, NetDev]:
    """``/proc/<pid>/net/dev`` (the two header lines skipped) per interface."""
    interfaces: dict[str, NetDev] = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) < 16:
            continue
        n = [int(f) for f in fields]
        interfaces[name.strip()] = NetDev(n[0], n[1], n[2], n[3], n[8], n[9], n[10], n[11])
    return interfaces
