"""``/proc/stat``: per-CPU jiffies, boot time, context switches, interrupts, forks, processes."""

from __future__ import annotations

from dataclasses import dataclass, field

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# guest and guest_nice (2.6.24, 2.6.33), also counted in user and nice; node_exporter's modes.
GUEST_MODES = ("user", "nice")


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies per mode for one CPU, from a ``cpuN`` line of /proc/stat."""

    cpu: str
    modes: dict[str, int]
    guest: dict[str, int] = field(default_factory=dict)


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
            values = [int(v) for v in parts[1:]]
            modes = dict(zip(CPU_MODES, values, strict=False))
            guest = dict(zip(GUEST_MODES, values[len(CPU_MODES) :], strict=False))
            cpus.append(CpuTimes(key[3:], modes, guest))
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
