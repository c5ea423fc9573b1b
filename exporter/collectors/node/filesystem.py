"""node_exporter's filesystem collector: sizes and inodes of the mounted filesystems.

Sizes come from ``statvfs``, which blocks for as long as a hard-mounted NFS server (or a FUSE
daemon) does not answer. As node_exporter does, a network or FUSE mount whose call is still
blocked after ``filesystem_mount_timeout`` is marked stuck: the scrape goes on without it, and
later scrapes report it with ``node_filesystem_device_error`` 1 and skip it until that call
returns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.errors import ExporterError
from stackwatch.filesystems import Mount, list_mounts
from stackwatch.mountstats import MountStats, statvfs

# Filesystem types whose statvfs waits on a server or a user-space daemon.
CAN_HANG = re.compile(
    r"^(nfs4?|cifs|smb3?|smbfs|ceph|glusterfs|9p|afs|lustre|gpfs|beegfs|davfs|ncpfs"
    r"|fuse(blk)?(\..+)?)$"
)


class FilesystemCollector(NodeCollector):
    """``node_filesystem_*{device,fstype,mountpoint}`` for each mount the exclusions leave."""

    name = "filesystem"

    def __init__(
        self,
        rootfs: Path,
        mount_points_exclude: re.Pattern[str],
        fs_types_exclude: re.Pattern[str],
        mount_timeout: float,
    ) -> None:
        self.rootfs = rootfs
        self.proc = rootfs / "proc"
        self.mount_points_exclude = mount_points_exclude
        self.fs_types_exclude = fs_types_exclude
        self.mount_stats = MountStats(mount_timeout)

    def mounts(self) -> list[Mount]:
        """The filesystems to report: node_exporter's default exclusions, one per mount point."""
        try:
            return list_mounts(self.proc, self.mount_points_exclude, self.fs_types_exclude)
        except FileNotFoundError as exc:
            raise ExporterError(
                f"{exc.filename}: no such file (is exporter.rootfs right?)"
            ) from None

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
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
            st = stats.get(target) if target in remote else statvfs(target)
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
