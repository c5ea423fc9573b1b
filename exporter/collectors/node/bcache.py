"""node_exporter's bcache collector: bcache sets and their devices, when bcache is loaded.

# HELP node_bcache_cache_hits_total Hits counted per individual IO as bcache sees them.
# TYPE node_bcache_cache_hits_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.bcache import bcache_sets

# (metric without node_bcache_, attribute, type, scale, help): node_exporter 1.5's names.
SET = (
    (
        "average_key_size_sectors",
        "average_key_size",
        "gauge",
        1,
        "Average data per key in the btree (sectors).",
    ),
    (
        "btree_cache_size_bytes",
        "btree_cache_size",
        "gauge",
        1,
        "Amount of memory currently used by the btree cache.",
    ),
    (
        "cache_available_percent",
        "cache_available_percent",
        "gauge",
        1,
        "Percentage of cache device without dirty data, usable for writeback (may contain clean "
        "cached data).",
    ),
    ("congested", "congested", "gauge", 1, "Congestion."),
    (
        "root_usage_percent",
        "root_usage_percent",
        "gauge",
        1,
        "Percentage of the root btree node in use (tree depth increases if too high).",
    ),
    ("tree_depth", "tree_depth", "gauge", 1, "Depth of the btree."),
    (
        "active_journal_entries",
        "active_journal_entries",
        "gauge",
        1,
        "Number of journal entries that are newer than the index.",
    ),
    ("btree_nodes", "btree_nodes", "gauge", 1, "Total nodes in the btree."),
    (
        "btree_read_average_duration_seconds",
        "btree_read_average_duration_us",
        "gauge",
        1e-09,
        "Average btree read duration.",
    ),
    (
        "cache_read_races_total",
        "cache_read_races",
        "counter",
        1,
        "Counts instances where while data was being read from the cache, the bucket was reused "
        "and invalidated - i.e. where the pointer was stale after the read completed.",
    ),
)
BDEV = (
    (
        "dirty_data_bytes",
        "dirty_data",
        "gauge",
        1,
        "Amount of dirty data for this backing device in the cache.",
    ),
    (
        "dirty_target_bytes",
        "target",
        "gauge",
        1,
        "Current dirty data target threshold for this backing device in bytes.",
    ),
    (
        "writeback_rate",
        "rate",
        "gauge",
        1,
        "Current writeback rate for this backing device in bytes.",
    ),
    (
        "writeback_rate_proportional_term",
        "proportional",
        "gauge",
        1,
        "Current result of proportional controller, part of writeback rate",
    ),
    (
        "writeback_rate_integral_term",
        "integral",
        "gauge",
        1,
        "Current result of integral controller, part of writeback rate",
    ),
    (
        "writeback_change",
        "change",
        "gauge",
        1,
        "Last writeback rate change step for this backing device.",
    ),
    (
        "bypassed_bytes_total",
        "bypassed",
        "counter",
        1,
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "cache_hits_total",
        "cache_hits",
        "counter",
        1,
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "cache_misses_total",
        "cache_misses",
        "counter",
        1,
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "cache_bypass_hits_total",
        "cache_bypass_hits",
        "counter",
        1,
        "Hits for IO intended to skip the cache.",
    ),
    (
        "cache_bypass_misses_total",
        "cache_bypass_misses",
        "counter",
        1,
        "Misses for IO intended to skip the cache.",
    ),
    (
        "cache_miss_collisions_total",
        "cache_miss_collisions",
        "counter",
        1,
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    (
        "cache_readaheads_total",
        "cache_readaheads",
        "counter",
        1,
        "Count of times readahead occurred.",
    ),
)
CACHE = (
    (
        "io_errors",
        "io_errors",
        "gauge",
        1,
        "Number of errors that have occurred, decayed by io_error_halflife.",
    ),
    (
        "metadata_written_bytes_total",
        "metadata_written",
        "counter",
        1,
        "Sum of all non data writes (btree writes and all other metadata).",
    ),
    (
        "written_bytes_total",
        "written",
        "counter",
        1,
        "Sum of all data that has been written to the cache.",
    ),
)


class BcacheCollector(NodeCollector):
    """``node_bcache_*{uuid}``, with ``backing_device`` or ``cache_device`` where per device."""

    name = "bcache"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        sets = bcache_sets(proc.path.parent / "sys")
        if not sets:
            return
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

        def add(row: tuple[str, str, str, float, str], labels: dict[str, str], value: int) -> None:
            metric, _, kind, scale, doc = row
            family = families.get(metric)
            if family is None:
                if kind == "counter":
                    family = CounterMetricFamily(f"node_bcache_{metric}", doc)
                else:
                    family = GaugeMetricFamily(f"node_bcache_{metric}", doc)
                families[metric] = family
            name = f"node_bcache_{metric}"
            family.add_sample(
                name if kind == "gauge" else family.name + "_total", labels, value * scale
            )

        for one in sets:
            for row in SET:
                add(row, {"uuid": one.uuid}, one.values[row[1]])
            for bdev, stats in one.bdevs.items():
                for row in BDEV:
                    add(row, {"uuid": one.uuid, "backing_device": bdev}, stats[row[1]])
            for cache, stats in one.caches.items():
                for row in CACHE:
                    add(row, {"uuid": one.uuid, "cache_device": cache}, stats[row[1]])
        yield from families.values()
