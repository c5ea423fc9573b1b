"""node_exporter's uname collector: the kernel and host names as an info gauge."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles


class UnameCollector(NodeCollector):
    """``node_uname_info``: ``uname(2)`` of this kernel, the domain name from the host's /proc."""

    name = "uname"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        uname = os.uname()
        domain_path = proc.path / "sys" / "kernel" / "domainname"
        domainname = domain_path.read_text().strip() if domain_path.exists() else "(none)"
        info = GaugeMetricFamily(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            labels=["sysname", "release", "version", "machine", "nodename", "domainname"],
        )
        info.add_metric(
            [
                uname.sysname,
                uname.release,
                uname.version,
                uname.machine,
                uname.nodename,
                domainname,
            ],
            1.0,
        )
        yield info
