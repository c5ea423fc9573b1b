"""node_exporter's netdev collector: each network device's traffic and error counters.

# HELP node_network_receive_bytes_total Network device statistic receive_bytes.
# TYPE node_network_receive_bytes_total counter
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.net_dev import NET_DEV_FIELDS, parse_net_dev
from exporter.sysfs.net_class import NetClassIface, read_net_class

IFF_LOOPBACK = 0x8


def net_class(proc: ProcFiles) -> dict[str, NetClassIface]:
    """This scrape's ``/sys/class/net``, read once for netdev and netclass."""
    return proc.shared("sys/class/net", lambda: read_net_class(proc.sys / "class" / "net"))


class NetdevCollector(NodeCollector):
    """``node_network_{receive,transmit}_*_total{device}`` from ``/proc/net/dev``.

    As node_exporter 1.5 (which asks netlink) it leaves out loopback devices and adds
    ``receive_nohandler`` (packets no protocol took), which only sysfs has.
    """

    name = "netdev"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        devices = proc.optional(proc.net("dev"), parse_net_dev)
        if devices is None:
            return
        ifaces = net_class(proc)
        fields = (*NET_DEV_FIELDS[:8], "receive_nohandler", *NET_DEV_FIELDS[8:])
        families = {
            field: CounterMetricFamily(
                f"node_network_{field}", f"Network device statistic {field}.", labels=["device"]
            )
            for field in fields
        }
        for device, stats in devices.items():
            iface = ifaces.get(device)
            flags = iface.ints.get("flags") if iface is not None else None
            if (flags is not None and flags & IFF_LOOPBACK) or (flags is None and device == "lo"):
                continue
            for field, value in stats.items():
                families[field].add_metric([device], value)
            nohandler = iface.rx_nohandler if iface is not None else None
            families["receive_nohandler"].add_metric([device], nohandler or 0)
        yield from families.values()
