"""node_exporter's cpufreq collector: CPU frequencies from ``/sys/devices/system/cpu/*/cpufreq``.

# HELP node_cpu_scaling_frequency_hertz Current scaled CPU thread frequency in hertz.
# TYPE node_cpu_scaling_frequency_hertz gauge
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.sysctl import parse_uint
from exporter.sysfs.files import read_text

# cpufreq file (kHz) → family and help.
FILES = (
    ("cpuinfo_cur_freq", "node_cpu_frequency_hertz", "Current cpu thread frequency in hertz."),
    ("cpuinfo_max_freq", "node_cpu_frequency_max_hertz", "Maximum cpu thread frequency in hertz."),
    ("cpuinfo_min_freq", "node_cpu_frequency_min_hertz", "Minimum cpu thread frequency in hertz."),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
)


class CpufreqCollector(NodeCollector):
    """Frequency per CPU thread, where the kernel has a cpufreq driver (rarely in a VM)."""

    name = "cpufreq"

    def __init__(self, rootfs: Path) -> None:
        self.cpus = rootfs / "sys" / "devices" / "system" / "cpu"
        self._dirs: list[Path] | None = None

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        families = [
            GaugeMetricFamily(family, help_text, labels=["cpu"]) for _, family, help_text in FILES
        ]
        if self._dirs is None:
            # Which CPUs have a cpufreq driver is the hardware's: looked up once.
            self._dirs = sorted(self.cpus.glob("cpu[0-9]*/cpufreq"))
        for path in self._dirs:
            cpu = path.parent.name[3:]
            for family, (file, _, _) in zip(families, FILES, strict=True):
                try:
                    text = read_text(path / file)
                except PermissionError:  # cpuinfo_cur_freq is root's only
                    continue
                if text is not None:
                    family.add_metric([cpu], parse_uint(text) * 1000.0)
        for family in families:
            if family.samples:
                yield family
