"""node_exporter's netstat collector: the protocol statistics its default field set selects.

# HELP node_netstat_Tcp_InSegs Statistic TcpInSegs.
# TYPE node_netstat_Tcp_InSegs untyped
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.metrics_core import Metric, UnknownMetricFamily

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.procfs.netstat import parse_netstat, parse_snmp6

# node_exporter 1.5's default --collector.netstat.fields.
DEFAULT_FIELDS = re.compile(
    r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)"
    r"|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)"
    r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
    r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
)


class NetstatCollector(NodeCollector):
    """``node_netstat_<Protocol>_<Field>`` (untyped, as node_exporter) from ``/proc/net/netstat``,
    ``snmp`` and ``snmp6`` (absent where IPv6 is off)."""

    name = "netstat"

    def __init__(self, fields: re.Pattern[str] = DEFAULT_FIELDS) -> None:
        self.fields = fields
        # A kernel's field names do not change while it runs: each is matched once.
        self._selected: dict[str, bool] = {}

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        netstat = proc.optional(proc.net("netstat"), parse_netstat)
        snmp = proc.optional(proc.net("snmp"), parse_netstat)
        if netstat is None or snmp is None:
            return
        stats = {**netstat, **snmp, **(proc.optional(proc.net("snmp6"), parse_snmp6) or {})}
        selected = self._selected
        for key, value in stats.items():
            keep = selected.get(key)
            if keep is None:
                keep = selected[key] = self.fields.match(key) is not None
            if keep:
                yield UnknownMetricFamily(
                    f"node_netstat_{key}", f"Statistic {key.replace('_', '', 1)}.", value=value
                )
