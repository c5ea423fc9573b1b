"""node_exporter's netclass collector: each network device's properties from ``/sys/class/net``.

# HELP node_network_info Non-numeric data from /sys/class/net/<iface>, value is always 1.
# TYPE node_network_info gauge
# HELP node_network_up Value is 1 if operstate is 'up', 0 otherwise.
# TYPE node_network_up gauge
# HELP node_network_speed_bytes Network device property: speed_bytes
# TYPE node_network_speed_bytes gauge
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.netdev import net_class

# sysfs attribute -> (node_network_<name>, is a counter), in node_exporter's order.
PROPERTIES = {
    "addr_assign_type": ("address_assign_type", False),
    "carrier": ("carrier", False),
    "carrier_changes": ("carrier_changes_total", True),
    "carrier_up_count": ("carrier_up_changes_total", True),
    "carrier_down_count": ("carrier_down_changes_total", True),
    "dev_id": ("device_id", False),
    "dormant": ("dormant", False),
    "flags": ("flags", False),
    "ifindex": ("iface_id", False),
    "iflink": ("iface_link", False),
    "link_mode": ("iface_link_mode", False),
    "mtu": ("mtu_bytes", False),
    "name_assign_type": ("name_assign_type", False),
    "netdev_group": ("net_dev_group", False),
    "speed": ("speed_bytes", False),
    "tx_queue_len": ("transmit_queue_length", False),
    "type": ("protocol_type", False),
}

INFO_LABELS = ["device", "address", "broadcast", "duplex", "operstate", "ifalias"]


class NetclassCollector(NodeCollector):
    """``node_network_info``, ``node_network_up`` and one gauge per numeric attribute.

    node_exporter's default ignores no device. An attribute the kernel refuses to read (the
    ``carrier`` or ``speed`` of a link that is down) is left out, as node_exporter does; an
    unknown speed (-1 Mbit/s) is exported as it is, -125000 bytes.
    """

    name = "netclass"

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        ifaces = net_class(proc)
        if not ifaces:
            return
        info = GaugeMetricFamily(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            labels=INFO_LABELS,
        )
        up = GaugeMetricFamily(
            "node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.", labels=["device"]
        )
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for attribute, (name, counter) in PROPERTIES.items():
            kind = CounterMetricFamily if counter else GaugeMetricFamily
            metric = name.removesuffix("_total") if counter else name
            families[attribute] = kind(
                f"node_network_{metric}", f"Network device property: {name}", labels=["device"]
            )
        for device, iface in ifaces.items():
            info.add_metric([device, *(iface.text.get(k, "") for k in INFO_LABELS[1:])], 1.0)
            up.add_metric([device], 1.0 if iface.text.get("operstate") == "up" else 0.0)
            for attribute, value in iface.ints.items():
                if attribute == "speed":
                    value = value * 1000 * 1000 // 8
                families[attribute].add_metric([device], value)
        yield info
        yield up
        yield from families.values()
