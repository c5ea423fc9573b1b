"""node_exporter's selinux collector: whether SELinux is on, and in which mode.

# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false
# TYPE node_selinux_enabled gauge
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.optional import KernelFeatureFiles
from exporter.procfs.selinux import parse_selinux_config
from exporter.procfs.sysctl import parse_uint
from exporter.sysfs.files import read_text


class SelinuxCollector(NodeCollector):
    """``node_selinux_enabled`` always (0 without selinuxfs); the modes where it is enabled."""

    name = "selinux"

    def __init__(self, rootfs: Path) -> None:
        self.enforce = rootfs / "sys" / "fs" / "selinux" / "enforce"
        self.config = rootfs / "etc" / "selinux" / "config"
        # selinuxfs is mounted at boot or never.
        self.kernel_files = KernelFeatureFiles()

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        enforce = self.kernel_files.read(self.enforce)
        yield GaugeMetricFamily(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            value=0.0 if enforce is None else 1.0,
        )
        if enforce is None:
            return
        config = read_text(self.config)
        yield GaugeMetricFamily(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            value=parse_selinux_config(config) if config is not None else -1,
        )
        yield GaugeMetricFamily(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            value=parse_uint(enforce),
        )
