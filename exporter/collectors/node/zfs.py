"""node_exporter's zfs collector: ARC, DMU, ZIL and pool statistics, when ZFS is loaded.

The kstat values are exposed untyped, as node_exporter does, named after their file's
subsystem (``node_zfs_arc_hits``) with the kstat's path as help.

# HELP node_zfs_arc_hits kstat.zfs.misc.arcstats.hits
# TYPE node_zfs_arc_hits untyped
# HELP node_zfs_zpool_state kstat.zfs.misc.state
# TYPE node_zfs_zpool_state gauge
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.zfs import parse_kstat, parse_objset, parse_pool_io

# node_exporter's subsystem -> kstat file
SUBSYSTEMS = {
    "zfs_abd": "abdstats",
    "zfs_arc": "arcstats",
    "zfs_dbuf": "dbufstats",
    "zfs_dmu_tx": "dmu_tx",
    "zfs_dnode": "dnodestats",
    "zfs_fm": "fm",
    "zfs_vdev_cache": "vdev_cache_stats",
    "zfs_vdev_mirror": "vdev_mirror_stats",
    "zfs_xuio": "xuio_stats",
    "zfs_zfetch": "zfetchstats",
    "zfs_zil": "zil",
}
POOL_STATES = ("online", "degraded", "faulted", "offline", "removed", "unavail")


def _metric_name(key: str) -> str:
    return key.replace("-", "_")


class ZfsCollector(NodeCollector):
    """``node_zfs_*``, ``node_zfs_zpool_*{zpool}``, ``node_zfs_zpool_dataset_*{zpool,dataset}``."""

    name = "zfs"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        base = proc.path / "spl" / "kstat" / "zfs"
        if not base.is_dir():
            return
        families: dict[str, Metric] = {}

        def add(name: str, doc: str, labels: dict[str, str], value: float, kind: str) -> None:
            family = families.get(name)
            if family is None:
                family = families[name] = Metric(name, doc, kind)
            family.add_sample(name, labels, value)

        for subsystem, filename in SUBSYSTEMS.items():
            path = base / filename
            if not path.is_file():  # files come with ZFS features: a missing one is fine
                continue
            for key, value in parse_kstat(path.read_text(), filename).items():
                name = f"node_{subsystem}_{_metric_name(key)}"
                add(name, f"kstat.zfs.misc.{filename}.{key}", {}, value, "unknown")
        pools = sorted(p for p in base.iterdir() if p.is_dir())
        for pool in pools:
            io = pool / "io"
            if io.is_file():
                for key, value in parse_pool_io(io.read_text()).items():
                    name = f"node_zfs_zpool_{_metric_name(key)}"
                    add(name, f"kstat.zfs.misc.io.{key}", {"zpool": pool.name}, value, "unknown")
        for pool in pools:
            for objset in sorted(pool.glob("objset-*")):
                parsed = parse_objset(objset.read_text())
                labels = {"zpool": pool.name, "dataset": parsed.dataset}
                for key, value in parsed.values.items():
                    name = f"node_zfs_zpool_dataset_{_metric_name(key)}"
                    add(name, f"kstat.zfs.misc.objset.{key}", labels, value, "unknown")
        yield from families.values()
        states = [(pool.name, _state(pool)) for pool in pools if (pool / "state").is_file()]
        if states:
            state = GaugeMetricFamily(
                "node_zfs_zpool_state", "kstat.zfs.misc.state", labels=["zpool", "state"]
            )
            for pool_name, actual in states:
                for name in POOL_STATES:
                    state.add_metric([pool_name, name], 1.0 if actual == name else 0.0)
            yield state


def _state(pool: Path) -> str:
    lines = (pool / "state").read_text().splitlines()
    return lines[0].lower() if lines else ""
