"""Host metrics with node_exporter's names, read from ``/proc`` and ``/sys`` under a set root.

One switch and one ``collector`` label (``host``) over node_exporter's collectors, which live
one per module in ``exporter/collectors/node/`` with their parsers in ``exporter/procfs/``.

# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.
# TYPE node_memory_MemTotal_bytes gauge
# HELP node_filesystem_size_bytes Filesystem size in bytes.
# TYPE node_filesystem_size_bytes gauge
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
# HELP node_scrape_collector_success node_exporter: Whether a collector succeeded.
# TYPE node_scrape_collector_success gauge
# HELP node_scrape_collector_duration_seconds node_exporter: Duration of a collector scrape.
# TYPE node_scrape_collector_duration_seconds gauge
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from exporter.collectors.node.arp import ArpCollector
from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.bcache import BcacheCollector
from exporter.collectors.node.bonding import BondingCollector
from exporter.collectors.node.conntrack import ConntrackCollector
from exporter.collectors.node.cpu import CpuCollector
from exporter.collectors.node.cpufreq import CpufreqCollector
from exporter.collectors.node.diskstats import DiskstatsCollector
from exporter.collectors.node.dmi import DmiCollector
from exporter.collectors.node.edac import EdacCollector
from exporter.collectors.node.entropy import EntropyCollector
from exporter.collectors.node.filefd import FilefdCollector
from exporter.collectors.node.filesystem import FilesystemCollector
from exporter.collectors.node.hwmon import HwmonCollector
from exporter.collectors.node.loadavg import LoadavgCollector
from exporter.collectors.node.mdadm import MdadmCollector
from exporter.collectors.node.meminfo import MeminfoCollector
from exporter.collectors.node.netclass import NetclassCollector
from exporter.collectors.node.netdev import NetdevCollector
from exporter.collectors.node.netstat import NetstatCollector
from exporter.collectors.node.nfs import NfsCollector
from exporter.collectors.node.nfsd import NfsdCollector
from exporter.collectors.node.os_release import OsCollector
from exporter.collectors.node.powersupplyclass import PowerSupplyClassCollector
from exporter.collectors.node.pressure import PressureCollector
from exporter.collectors.node.processes import ProcessesCollector
from exporter.collectors.node.rapl import RaplCollector
from exporter.collectors.node.schedstat import SchedstatCollector
from exporter.collectors.node.selinux import SelinuxCollector
from exporter.collectors.node.sockstat import SockstatCollector
from exporter.collectors.node.softnet import SoftnetCollector
from exporter.collectors.node.stat import StatCollector
from exporter.collectors.node.tapestats import TapestatsCollector
from exporter.collectors.node.textfile import TextfileCollector
from exporter.collectors.node.thermal_zone import ThermalZoneCollector
from exporter.collectors.node.time import TimeCollector
from exporter.collectors.node.timex import TimexCollector
from exporter.collectors.node.udp_queues import UdpQueuesCollector
from exporter.collectors.node.uname import UnameCollector
from exporter.collectors.node.vmstat import VmstatCollector
from exporter.collectors.node.xfs import XfsCollector
from exporter.collectors.node.zfs import ZfsCollector
from exporter.errors import ExporterError
from stackwatch.config import Config

log = logging.getLogger(__name__)


# Files a container engine puts in every container's root: Docker's, Podman's.
CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))


def own_view_notice(rootfs: Path) -> str | None:
    """The start-up line when a container watches itself, not its host (rootfs / there)."""
    if rootfs != Path("/") or not any(marker.exists() for marker in CONTAINER_MARKERS):
        return None
    return (
        "exporter.rootfs is / inside a container: the host metrics are this container's own "
        "view (its processes, filesystems and name); to watch the host, mount its / at /host "
        "and set exporter.rootfs: /host (STACKWATCH__EXPORTER__ROOTFS=/host), as "
        "docker-compose.yml does"
    )


class HostCollector(Collector):
    """node_exporter's collectors, each timed and failing alone as in node_exporter."""

    name = "host"

    def __init__(
        self,
        rootfs: Path,
        mount_points_exclude: str,
        fs_types_exclude: str,
        clock_ticks: int | None = None,
        mount_timeout: float = 5.0,
        textfile_directory: Path | None = None,
    ) -> None:
        self.rootfs = rootfs
        self.proc = rootfs / "proc"
        self.filesystem = FilesystemCollector(
            rootfs, re.compile(mount_points_exclude), re.compile(fs_types_exclude), mount_timeout
        )
        # In exposition order; the golden test holds it.
        parts: tuple[NodeCollector, ...] = (
            CpuCollector(clock_ticks or os.sysconf("SC_CLK_TCK"), rootfs),
            StatCollector(),
            ProcessesCollector(),
            MeminfoCollector(),
            LoadavgCollector(),
            self.filesystem,
            UnameCollector(rootfs),
            TimeCollector(),
            NetdevCollector(),
            NetclassCollector(),
            NetstatCollector(),
            SockstatCollector(),
            SoftnetCollector(),
            UdpQueuesCollector(),
            ArpCollector(),
            ConntrackCollector(),
            BondingCollector(),
            CpufreqCollector(rootfs),
            DiskstatsCollector(rootfs),
            EntropyCollector(),
            FilefdCollector(),
            OsCollector(rootfs),
            PressureCollector(),
            SchedstatCollector(),
            SelinuxCollector(rootfs),
            TimexCollector(),
            VmstatCollector(),
            BcacheCollector(),
            DmiCollector(),
            EdacCollector(),
            HwmonCollector(),
            MdadmCollector(),
            NfsCollector(),
            NfsdCollector(),
            PowerSupplyClassCollector(),
            RaplCollector(),
            TapestatsCollector(),
            ThermalZoneCollector(),
            XfsCollector(),
            ZfsCollector(),
            TextfileCollector(textfile_directory),
        )
        self.collectors: dict[str, NodeCollector] = {part.name: part for part in parts}
        self._failing: dict[str, str] = {}

    @classmethod
    def from_config(cls, config: Config) -> HostCollector:
        collector = cls(
            config.exporter.rootfs,
            config.exporter.filesystem_mount_points_exclude,
            config.exporter.filesystem_fs_types_exclude,
            mount_timeout=config.exporter.filesystem_mount_timeout,
            textfile_directory=config.exporter.textfile_directory,
        )
        collector.check()
        notice = own_view_notice(config.exporter.rootfs)
        if notice is not None:
            log.warning("%s", notice)
        return collector

    def check(self) -> None:
        """Fail at start-up, with the path, when the root has no /proc."""
        needed = dict.fromkeys(name for part in self.collectors.values() for name in part.files)
        for name in needed:
            if not (self.proc / name).is_file():
                raise ExporterError(
                    f"exporter.rootfs: {self.proc / name}: no such file "
                    f"(set exporter.rootfs to the host's root, e.g. /host)"
                )

    def collect(self) -> Iterator[Metric]:
        proc = ProcFiles(self.proc, self.rootfs / "sys")
        success = GaugeMetricFamily(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
            labels=["collector"],
        )
        duration = GaugeMetricFamily(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
            labels=["collector"],
        )
        for name, part in self.collectors.items():
            start = time.perf_counter()
            try:
                families = list(part.collect(proc))
            # node_exporter's per-collector guard: one unreadable source costs its own families
            # only, and node_scrape_collector_success says which.
            except Exception as exc:  # noqa: BLE001
                self._failed(name, f"{type(exc).__name__}: {exc}")
                success.add_metric([name], 0.0)
            else:
                self._recovered(name)
                success.add_metric([name], 1.0)
                yield from families
            duration.add_metric([name], time.perf_counter() - start)
        yield success
        yield duration

    def _failed(self, name: str, error: str) -> None:
        # Logged once per change of error, not on every scrape.
        if self._failing.get(name) != error:
            log.error("node collector %s failed: %s", name, error)
        self._failing[name] = error

    def _recovered(self, name: str) -> None:
        if self._failing.pop(name, None) is not None:
            log.info("node collector %s recovered", name)
