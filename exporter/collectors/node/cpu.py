"""node_exporter's cpu collector: seconds per CPU and mode from ``/proc/stat``, throttles from
``/sys/devices/system/cpu``.

# HELP node_cpu_guest_seconds_total Seconds the CPUs spent in guests (VMs) for each mode.
# TYPE node_cpu_guest_seconds_total counter
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.stat import parse_stat
from exporter.procfs.sysctl import parse_uint
from exporter.sysfs.files import read_text


class CpuCollector(NodeCollector):
    """``node_cpu_seconds_total{cpu,mode}``: jiffies divided by the kernel's clock ticks."""

    name = "cpu"
    files = ("stat",)

    def __init__(self, clock_ticks: int, rootfs: Path = Path("/")) -> None:
        self.clock_ticks = clock_ticks
        self.cpus = rootfs / "sys" / "devices" / "system" / "cpu"
        self._throttled: list[tuple[str, str, Path]] | None = None

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        stat = proc.parsed("stat", parse_stat)
        cpu = CounterMetricFamily(
            "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
        )
        guest = CounterMetricFamily(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            labels=["cpu", "mode"],
        )
        for times in stat.cpus:
            for mode, jiffies in times.modes.items():
                cpu.add_metric([times.cpu, mode], jiffies / self.clock_ticks)
            for mode, jiffies in times.guest.items():
                guest.add_metric([times.cpu, mode], jiffies / self.clock_ticks)
        yield cpu
        if guest.samples:
            yield guest
        yield from self.throttles()

    def throttles(self) -> Iterator[Metric]:
        """Thermal throttle counts, once per package and per (package, core), as node_exporter."""
        packages: dict[str, int] = {}
        cores: dict[tuple[str, str], int] = {}
        for package, core, throttle in self.throttled_cpus():
            if (package, core) not in cores:
                count = read_text(throttle / "core_throttle_count")
                if count is not None:
                    cores[package, core] = parse_uint(count)
            if package not in packages:
                count = read_text(throttle / "package_throttle_count")
                if count is not None:
                    packages[package] = parse_uint(count)
        if packages:
            family = CounterMetricFamily(
                "node_cpu_package_throttles_total",
                "Number of times this CPU package has been throttled.",
                labels=["package"],
            )
            for package, throttles in packages.items():
                family.add_metric([package], throttles)
            yield family
        if cores:
            family = CounterMetricFamily(
                "node_cpu_core_throttles_total",
                "Number of times this CPU core has been throttled.",
                labels=["package", "core"],
            )
            for (package, core), throttles in cores.items():
                family.add_metric([package, core], throttles)
            yield family

    def throttled_cpus(self) -> list[tuple[str, str, Path]]:
        """(package, core, thermal_throttle folder) per CPU that has one; the topology is the
        hardware's, so it is looked up once (most VMs have no thermal_throttle at all)."""
        if self._throttled is None:
            self._throttled = []
            for path in sorted(self.cpus.glob("cpu[0-9]*")):
                package_id = read_text(path / "topology" / "physical_package_id")
                core_id = read_text(path / "topology" / "core_id")
                if package_id is None or core_id is None:
                    continue
                if (path / "thermal_throttle").is_dir():
                    self._throttled.append(
                        (
                            str(parse_uint(package_id)),
                            str(parse_uint(core_id)),
                            path / "thermal_throttle",
                        )
                    )
        return self._throttled
