"""node_exporter's mdadm collector: software RAID arrays from ``/proc/mdstat``, when present.

# HELP node_md_state Indicates the state of md-device.
# TYPE node_md_state gauge
# HELP node_md_disks Number of active/failed/spare disks of device.
# TYPE node_md_disks gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.mdstat import parse_mdstat

# node_exporter's state label for each activity state of procfs.
STATES = {
    "active": "active",
    "inactive": "inactive",
    "recovering": "recovering",
    "resyncing": "resync",
    "checking": "check",
}


class MdadmCollector(NodeCollector):
    """``node_md_*{device}``: nothing where the kernel has no md driver (no /proc/mdstat)."""

    name = "mdadm"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        if not (proc.path / "mdstat").is_file():
            return
        arrays = proc.parsed("mdstat", parse_mdstat)
        device = ["device"]
        state = GaugeMetricFamily(
            "node_md_state", "Indicates the state of md-device.", labels=["device", "state"]
        )
        disks = GaugeMetricFamily(
            "node_md_disks",
            "Number of active/failed/spare disks of device.",
            labels=["device", "state"],
        )
        required = GaugeMetricFamily(
            "node_md_disks_required", "Total number of disks of device.", labels=device
        )
        blocks = GaugeMetricFamily(
            "node_md_blocks", "Total number of blocks on device.", labels=device
        )
        synced = GaugeMetricFamily(
            "node_md_blocks_synced", "Number of blocks synced on device.", labels=device
        )
        for md in arrays:
            for kind, label in STATES.items():
                state.add_metric([md.name, label], 1.0 if md.state == kind else 0.0)
            disks.add_metric([md.name, "active"], float(md.disks_active))
            disks.add_metric([md.name, "failed"], float(md.disks_failed))
            disks.add_metric([md.name, "spare"], float(md.disks_spare))
            required.add_metric([md.name], float(md.disks_total))
            blocks.add_metric([md.name], float(md.blocks_total))
            synced.add_metric([md.name], float(md.blocks_synced))
        yield from (state, disks, required, blocks, synced)
