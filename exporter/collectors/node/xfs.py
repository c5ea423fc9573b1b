"""node_exporter's xfs collector: per-filesystem XFS statistics, when XFS is mounted.

# HELP node_xfs_read_calls_total Number of read(2) system calls made to files in a filesystem.
# TYPE node_xfs_read_calls_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.xfs import parse_xfs_stats
from exporter.sysfs.files import read_attribute

# line -> the metric (without node_xfs_ and _total) and help of each of its values, in order.
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "extent_alloc": (
        ("extent_allocation_extents_allocated", "Number of extents allocated for a filesystem."),
        ("extent_allocation_blocks_allocated", "Number of blocks allocated for a filesystem."),
        ("extent_allocation_extents_freed", "Number of extents freed for a filesystem."),
        ("extent_allocation_blocks_freed", "Number of blocks freed for a filesystem."),
    ),
    "abt": (
        ("allocation_btree_lookups", "Number of allocation B-tree lookups for a filesystem."),
        ("allocation_btree_compares", "Number of allocation B-tree compares for a filesystem."),
        (
            "allocation_btree_records_inserted",
            "Number of allocation B-tree records inserted for a filesystem.",
        ),
        (
            "allocation_btree_records_deleted",
            "Number of allocation B-tree records deleted for a filesystem.",
        ),
    ),
    "blk_map": (
        ("block_mapping_reads", "Number of block map for read operations for a filesystem."),
        ("block_mapping_writes", "Number of block map for write operations for a filesystem."),
        ("block_mapping_unmaps", "Number of block unmaps (deletes) for a filesystem."),
        (
            "block_mapping_extent_list_insertions",
            "Number of extent list insertions for a filesystem.",
        ),
        (
            "block_mapping_extent_list_deletions",
            "Number of extent list deletions for a filesystem.",
        ),
        ("block_mapping_extent_list_lookups", "Number of extent list lookups for a filesystem."),
        ("block_mapping_extent_list_compares", "Number of extent list compares for a filesystem."),
    ),
    "bmbt": (
        ("block_map_btree_lookups", "Number of block map B-tree lookups for a filesystem."),
        ("block_map_btree_compares", "Number of block map B-tree compares for a filesystem."),
        (
            "block_map_btree_records_inserted",
            "Number of block map B-tree records inserted for a filesystem.",
        ),
        (
            "block_map_btree_records_deleted",
            "Number of block map B-tree records deleted for a filesystem.",
        ),
    ),
    "dir": (
        (
            "directory_operation_lookup",
            "Number of file name directory lookups which miss the operating systems directory "
            "name lookup cache.",
        ),
        (
            "directory_operation_create",
            "Number of times a new directory entry was created for a filesystem.",
        ),
        (
            "directory_operation_remove",
            "Number of times an existing directory entry was created for a filesystem.",
        ),
        (
            "directory_operation_getdents",
            "Number of times the directory getdents operation was performed for a filesystem.",
        ),
    ),
    "ig": (
        (
            "inode_operation_attempts",
            "Number of times the OS looked for an XFS inode in the inode cache.",
        ),
        (
            "inode_operation_found",
            "Number of times the OS looked for and found an XFS inode in the inode cache.",
        ),
        (
            "inode_operation_recycled",
            "Number of times the OS found an XFS inode in the cache, but could not use it as it "
            "was being recycled.",
        ),
        (
            "inode_operation_missed",
            "Number of times the OS looked for an XFS inode in the cache, but did not find it.",
        ),
        (
            "inode_operation_duplicates",
            "Number of times the OS tried to add a missing XFS inode to the inode cache, but "
            "found it had already been added by another process.",
        ),
        (
            "inode_operation_reclaims",
            "Number of times the OS reclaimed an XFS inode from the inode cache to free memory "
            "for another purpose.",
        ),
        (
            "inode_operation_attribute_changes",
            "Number of times the OS explicitly changed the attributes of an XFS inode.",
        ),
    ),
    "rw": (
        ("write_calls", "Number of write(2) system calls made to files in a filesystem."),
        ("read_calls", "Number of read(2) system calls made to files in a filesystem."),
    ),
    "vnodes": (
        ("vnode_active", "Number of vnodes not on free lists for a filesystem."),
        ("vnode_allocate", "Number of times vn_alloc called for a filesystem."),
        ("vnode_get", "Number of times vn_get called for a filesystem."),
        ("vnode_hold", "Number of times vn_hold called for a filesystem."),
        ("vnode_release", "Number of times vn_rele called for a filesystem."),
        ("vnode_reclaim", "Number of times vn_reclaim called for a filesystem."),
        ("vnode_remove", "Number of times vn_remove called for a filesystem."),
    ),
}


class XfsCollector(NodeCollector):
    """``node_xfs_*_total{device}`` from ``/sys/fs/xfs/*/stats/stats``."""

    name = "xfs"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        folder = proc.path.parent / "sys" / "fs" / "xfs"
        if not folder.is_dir():
            return
        devices = sorted(p for p in folder.iterdir() if (p / "stats" / "stats").is_file())
        if not devices:
            return
        families = {
            name: CounterMetricFamily(f"node_xfs_{name}", doc, labels=["device"])
            for fields in FIELDS.values()
            for name, doc in fields
        }
        for device in devices:
            stats = parse_xfs_stats(read_attribute(device / "stats" / "stats"))
            for line, fields in FIELDS.items():
                for (name, _), value in zip(fields, stats[line], strict=False):
                    families[name].add_metric([device.name], value)
        yield from families.values()
