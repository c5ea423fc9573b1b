"""node_exporter's vmstat collector: the ``/proc/vmstat`` fields of its default field set.

# HELP node_vmstat_oom_kill /proc/vmstat information field oom_kill.
# TYPE node_vmstat_oom_kill untyped
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.metrics_core import Metric, UnknownMetricFamily

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.vmstat import parse_vmstat
from exporter.sysfs.files import read_text

# node_exporter 1.5's --collector.vmstat.fields default.
FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")


class VmstatCollector(NodeCollector):
    """``node_vmstat_<field>``, untyped as node_exporter exposes them (counters in fact)."""

    name = "vmstat"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        text = read_text(proc.path / "vmstat")
        if text is None:
            return
        for field, value in parse_vmstat(text, FIELDS).items():
            yield UnknownMetricFamily(
                f"node_vmstat_{field}", f"/proc/vmstat information field {field}.", value=value
            )
