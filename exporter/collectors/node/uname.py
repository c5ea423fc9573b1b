"""node_exporter's uname collector: the kernel and host names as an info gauge."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles


class UnameCollector(NodeCollector):
    """``node_uname_info``: ``uname(2)`` of this kernel, the domain name from the host's /proc.

    Under a host root (``exporter.rootfs`` not ``/``) the exporter runs in a container, whose
    own UTS namespace names it by its id: the node name is then the host's ``/etc/hostname``
    under that root, as node_exporter's would be with the host's UTS namespace.
    """

    name = "uname"

    def __init__(self, rootfs: Path = Path("/")) -> None:
        self.hostname_file = None if rootfs == Path("/") else rootfs / "etc" / "hostname"

    def nodename(self) -> str:
        if self.hostname_file is not None:
            try:
                text = self.hostname_file.read_text(errors="replace")
            except OSError:
                text = ""
            # hostname(5): the name on its own line; comment lines begin with #
            names = [line.strip() for line in text.splitlines() if line.strip()[:1] not in "#"]
            if names:
                return names[0]
        return os.uname().nodename

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
                self.nodename(),
                domainname,
            ],
            1.0,
        )
        yield info
