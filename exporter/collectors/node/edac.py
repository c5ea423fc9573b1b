"""node_exporter's edac collector: ECC memory error counts, when EDAC is loaded.

# HELP node_edac_correctable_errors_total Total correctable memory errors.
# TYPE node_edac_correctable_errors_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.sysfs.edac import memory_controllers


class EdacCollector(NodeCollector):
    """``node_edac_*{controller}`` and per ``csrow`` (``unknown``: errors without a row)."""

    name = "edac"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        controllers = memory_controllers(proc.path.parent / "sys")
        if not controllers:
            return
        ce = CounterMetricFamily(
            "node_edac_correctable_errors",
            "Total correctable memory errors.",
            labels=["controller"],
        )
        ue = CounterMetricFamily(
            "node_edac_uncorrectable_errors",
            "Total uncorrectable memory errors.",
            labels=["controller"],
        )
        row_ce = CounterMetricFamily(
            "node_edac_csrow_correctable_errors",
            "Total correctable memory errors for this csrow.",
            labels=["controller", "csrow"],
        )
        row_ue = CounterMetricFamily(
            "node_edac_csrow_uncorrectable_errors",
            "Total uncorrectable memory errors for this csrow.",
            labels=["controller", "csrow"],
        )
        for mc in controllers:
            ce.add_metric([mc.number], mc.ce)
            ue.add_metric([mc.number], mc.ue)
            row_ce.add_metric([mc.number, "unknown"], mc.ce_noinfo)
            row_ue.add_metric([mc.number, "unknown"], mc.ue_noinfo)
            for row, (row_ce_count, row_ue_count) in mc.csrows.items():
                row_ce.add_metric([mc.number, row], row_ce_count)
                row_ue.add_metric([mc.number, row], row_ue_count)
        yield from (ce, ue, row_ce, row_ue)
