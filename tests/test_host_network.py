"""The host collector's network parts (node_exporter's netdev, netclass, netstat, sockstat,
softnet, udp_queues, arp, conntrack, bonding) on captured /proc files and fake /sys trees."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors.host import HostCollector
from exporter.collectors.node.sockstat import SockstatCollector
from exporter.procfs.conntrack import parse_conntrack_stat
from exporter.procfs.net_dev import parse_net_dev
from exporter.procfs.netstat import parse_netstat, parse_snmp6
from exporter.procfs.sockstat import parse_sockstat
from exporter.procfs.softnet import parse_softnet
from exporter.registry import build_registry
from stackwatch.config import ExporterConfig

NET = Path(__file__).parent / "fixtures" / "proc" / "net"
DEFAULTS = ExporterConfig()
NETWORK = ("netdev", "netclass", "netstat", "sockstat", "softnet", "udp_queues", "arp")
NETWORK += ("conntrack", "bonding")

# /sys/class/net as this machine has it (captured values), plus a veth whose speed is unknown.
SYS_NET = {
    "lo": {
        "address": "00:00:00:00:00:00",
        "broadcast": "00:00:00:00:00:00",
        "operstate": "unknown",
        "ifalias": "",
        "addr_assign_type": "0",
        "carrier": "1",
        "carrier_changes": "0",
        "dormant": "0",
        "flags": "0x9",
        "ifindex": "1",
        "iflink": "1",
        "mtu": "65536",
        "type": "772",
        "tx_queue_len": "1000",
    },
    "eth0": {
        "address": "02:fc:00:00:00:01",
        "broadcast": "ff:ff:ff:ff:ff:ff",
        "duplex": "full",
        "operstate": "up",
        "ifalias": "uplink",
        "addr_assign_type": "0",
        "carrier": "1",
        "carrier_changes": "2",
        "carrier_up_count": "1",
        "carrier_down_count": "1",
        "dev_id": "0x0",
        "dormant": "0",
        "flags": "0x1003",
        "ifindex": "4",
        "iflink": "4",
        "link_mode": "0",
        "mtu": "1400",
        "name_assign_type": "1",
        "netdev_group": "0",
        "speed": "1000",
        "tx_queue_len": "1000",
        "type": "1",
        "statistics/rx_nohandler": "17",
    },
    "veth1a2b3c": {
        "address": "d2:10:9f:a9:17:03",
        "broadcast": "ff:ff:ff:ff:ff:ff",
        "operstate": "down",
        "flags": "0x1002",
        "ifindex": "7",
        "iflink": "6",
        "mtu": "1500",
        "speed": "-1",
        "type": "1",
    },
}


def make_root(tmp_path: Path, sys_net: dict[str, dict[str, str]] | None = None) -> Path:
    """A fake host root: /proc/net from captured files, /sys/class/net from ``sys_net``."""
    root = tmp_path / "root"
    proc = root / "proc"
    shutil.copytree(NET, proc / "net")
    netfilter = proc / "sys" / "net" / "netfilter"
    netfilter.mkdir(parents=True)
    (netfilter / "nf_conntrack_count").write_text("33\n")
    (netfilter / "nf_conntrack_max").write_text("262144\n")
    for device, attributes in (SYS_NET if sys_net is None else sys_net).items():
        for name, value in attributes.items():
            path = root / "sys" / "class" / "net" / device / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{value}\n")
    return root


def registry(root: Path) -> CollectorRegistry:
    host = HostCollector(
        root, DEFAULTS.filesystem_mount_points_exclude, DEFAULTS.filesystem_fs_types_exclude
    )
    return build_registry({"host": host})


def success(reg: CollectorRegistry, collector: str) -> float | None:
    return reg.get_sample_value("node_scrape_collector_success", {"collector": collector})


def test_parse_net_dev_names_the_columns_as_node_exporter() -> None:
    devices = parse_net_dev((NET / "dev").read_text())
    assert list(devices) == ["lo", "eth0", "docker0", "veth1a2b3c"]
    eth0 = devices["eth0"]
    assert (eth0["receive_bytes"], eth0["receive_errs"], eth0["receive_drop"]) == (3731026148, 3, 7)
    assert (eth0["receive_fifo"], eth0["receive_frame"], eth0["receive_multicast"]) == (1, 2, 45)
    assert (eth0["transmit_bytes"], eth0["transmit_errs"], eth0["transmit_drop"]) == (3387687, 4, 5)
    assert (eth0["transmit_fifo"], eth0["transmit_colls"], eth0["transmit_carrier"]) == (6, 8, 9)


def test_netdev_leaves_out_loopback_and_adds_nohandler(tmp_path: Path) -> None:
    reg = registry(make_root(tmp_path))
    value = reg.get_sample_value
    assert value("node_network_receive_bytes_total", {"device": "eth0"}) == 3731026148
    assert value("node_network_transmit_carrier_total", {"device": "eth0"}) == 9
    assert value("node_network_receive_drop_total", {"device": "veth1a2b3c"}) == 11
    # docker0 has no /sys entry here: it is not a loopback, so it stays.
    assert value("node_network_transmit_packets_total", {"device": "docker0"}) == 54321
    assert value("node_network_receive_bytes_total", {"device": "lo"}) is None
    assert value("node_network_receive_nohandler_total", {"device": "eth0"}) == 17
    assert value("node_network_receive_nohandler_total", {"device": "veth1a2b3c"}) == 0


def test_netclass_exports_node_exporter_properties(tmp_path: Path) -> None:
    reg = registry(make_root(tmp_path))
    value = reg.get_sample_value
    info = {
        "device": "eth0",
        "address": "02:fc:00:00:00:01",
        "broadcast": "ff:ff:ff:ff:ff:ff",
        "duplex": "full",
        "operstate": "up",
        "ifalias": "uplink",
    }
    assert value("node_network_info", info) == 1
    assert value("node_network_info", {**info, "device": "veth1a2b3c"}) is None
    assert value("node_network_up", {"device": "eth0"}) == 1
    assert value("node_network_up", {"device": "lo"}) == 0  # operstate unknown
    assert value("node_network_speed_bytes", {"device": "eth0"}) == 125_000_000
    assert value("node_network_speed_bytes", {"device": "veth1a2b3c"}) == -125_000
    assert value("node_network_mtu_bytes", {"device": "lo"}) == 65536
    assert value("node_network_flags", {"device": "eth0"}) == 0x1003
    assert value("node_network_iface_link", {"device": "veth1a2b3c"}) == 6
    assert value("node_network_carrier_changes_total", {"device": "eth0"}) == 2
    assert value("node_network_carrier_up_changes_total", {"device": "eth0"}) == 1
    assert value("node_network_protocol_type", {"device": "lo"}) == 772
    # A down link answers no carrier: node_exporter leaves the series out.
    assert value("node_network_carrier", {"device": "veth1a2b3c"}) is None


def test_an_attribute_that_refuses_a_read_is_left_out(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    speed = root / "sys" / "class" / "net" / "eth0" / "speed"
    speed.unlink()
    speed.mkdir()  # reading it fails, as sysfs fails with EINVAL
    reg = registry(root)
    assert reg.get_sample_value("node_network_speed_bytes", {"device": "eth0"}) is None
    assert reg.get_sample_value("node_network_mtu_bytes", {"device": "eth0"}) == 1400
    assert success(reg, "netclass") == 1


def test_netstat_default_fields() -> None:
    netstat = parse_netstat((NET / "netstat").read_text())
    snmp = parse_netstat((NET / "snmp").read_text())
    snmp6 = parse_snmp6((NET / "snmp6").read_text())
    assert snmp["Tcp_MaxConn"] == -1
    assert "IpExt_InOctets" in netstat
    assert snmp6["Udp6_InDatagrams"] == 0
    assert "UdpLite6_InErrors" in snmp6
    assert "Ip6_InOctets" in snmp6


def test_netstat_collector_selects_node_exporter_defaults(tmp_path: Path) -> None:
    reg = registry(make_root(tmp_path))
    names = {m.name for m in reg.collect() if m.name.startswith("node_netstat_")}
    assert {"node_netstat_Tcp_InSegs", "node_netstat_Ip_Forwarding"} <= names
    assert {"node_netstat_TcpExt_ListenDrops", "node_netstat_Udp6_NoPorts"} <= names
    assert {"node_netstat_Icmp6_InErrors", "node_netstat_UdpLite_InErrors"} <= names
    assert (
        not {"node_netstat_TcpExt_TW", "node_netstat_Tcp_MaxConn", "node_netstat_Ip6_InReceives"}
        & names
    )
    family = next(m for m in reg.collect() if m.name == "node_netstat_Tcp_InSegs")
    assert (family.type, family.documentation) == ("unknown", "Statistic TcpInSegs.")


def test_netstat_field_count_mismatch_fails_the_collector_alone(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "proc" / "net" / "snmp").write_text("Ip: Forwarding DefaultTTL\nIp: 1\n")
    reg = registry(root)
    assert success(reg, "netstat") == 0
    assert success(reg, "sockstat") == 1
    assert reg.get_sample_value("node_netstat_Ip_Forwarding") is None


def test_sockstat_v4_and_v6() -> None:
    v4 = parse_sockstat((NET / "sockstat").read_text())
    v6 = parse_sockstat((NET / "sockstat6").read_text())
    assert v4.used == 168
    assert v4.protocols["TCP"] == {"inuse": 9, "orphan": 0, "tw": 732, "alloc": 9, "mem": 154}
    assert v6.used is None
    assert v6.protocols["FRAG6"] == {"inuse": 0, "memory": 0}


def test_sockstat_collector_reports_mem_in_pages_and_bytes(tmp_path: Path) -> None:
    host = HostCollector(
        make_root(tmp_path),
        DEFAULTS.filesystem_mount_points_exclude,
        DEFAULTS.filesystem_fs_types_exclude,
    )
    host.collectors["sockstat"] = SockstatCollector(page_size=4096)
    reg = build_registry({"host": host})
    assert reg.get_sample_value("node_sockstat_TCP_mem") == 154
    assert reg.get_sample_value("node_sockstat_TCP_mem_bytes") == 154 * 4096
    assert reg.get_sample_value("node_sockstat_TCP_tw") == 732
    assert reg.get_sample_value("node_sockstat_sockets_used") == 168
    assert reg.get_sample_value("node_sockstat_TCP6_inuse") == 0
    assert reg.get_sample_value("node_sockstat_FRAG6_memory") == 0
    assert reg.get_sample_value("node_sockstat_UDPLITE_mem_bytes") is None


def test_softnet_udp_queues_arp(tmp_path: Path) -> None:
    assert parse_softnet((NET / "softnet_stat").read_text())[0].times_squeezed == 0xF0000769
    reg = registry(make_root(tmp_path))
    value = reg.get_sample_value
    assert value("node_softnet_processed_total", {"cpu": "1"}) == 0x01663FB2
    assert value("node_softnet_dropped_total", {"cpu": "0"}) == 0x00020E76
    assert value("node_softnet_times_squeezed_total", {"cpu": "1"}) == 0x000109A4
    assert value("node_udp_queues", {"ip": "v4", "queue": "tx"}) == 0x10
    assert value("node_udp_queues", {"ip": "v4", "queue": "rx"}) == 0x340 + 0x100
    assert value("node_udp_queues", {"ip": "v6", "queue": "tx"}) == 0x20
    assert value("node_arp_entries", {"device": "eth0"}) == 2
    assert value("node_arp_entries", {"device": "docker0"}) == 1


def test_udp_queues_without_ipv6(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "proc" / "net" / "udp6").unlink()
    reg = registry(root)
    assert reg.get_sample_value("node_udp_queues", {"ip": "v4", "queue": "rx"}) == 0x440
    assert reg.get_sample_value("node_udp_queues", {"ip": "v6", "queue": "rx"}) is None


def test_conntrack(tmp_path: Path) -> None:
    stats = parse_conntrack_stat((NET / "stat" / "nf_conntrack").read_text())
    assert stats == {
        "found": 4,
        "invalid": 11,
        "ignore": 17,
        "insert": 7,
        "insert_failed": 1,
        "drop": 2,
        "early_drop": 3,
        "search_restart": 5,
    }
    root = make_root(tmp_path)
    reg = registry(root)
    assert reg.get_sample_value("node_nf_conntrack_entries") == 33
    assert reg.get_sample_value("node_nf_conntrack_entries_limit") == 262144
    assert reg.get_sample_value("node_nf_conntrack_stat_early_drop") == 3
    (root / "proc" / "net" / "stat" / "nf_conntrack").unlink()
    reg = registry(root)
    assert reg.get_sample_value("node_nf_conntrack_entries") == 33
    assert reg.get_sample_value("node_nf_conntrack_stat_found") is None
    assert success(reg, "conntrack") == 1


def test_bonding_counts_slaves_and_active_ones(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    net = root / "sys" / "class" / "net"
    (net / "bonding_masters").write_text("bond0 bond1\n")
    slaves = {"bond0": "eth1 eth2", "bond1": "eth3"}
    for master, names in slaves.items():
        (net / master / "bonding").mkdir(parents=True)
        (net / master / "bonding" / "slaves").write_text(f"{names}\n")
    states = {("bond0", "lower_eth1"): "up", ("bond0", "lower_eth2"): "down"}
    states[("bond1", "slave_eth3")] = "up"  # older kernels' name for the link
    for (master, link), state in states.items():
        (net / master / link / "bonding_slave").mkdir(parents=True)
        (net / master / link / "bonding_slave" / "mii_status").write_text(f"{state}\n")
    reg = registry(root)
    value = reg.get_sample_value
    assert value("node_bonding_slaves", {"master": "bond0"}) == 2
    assert value("node_bonding_active", {"master": "bond0"}) == 1
    assert value("node_bonding_slaves", {"master": "bond1"}) == 1
    assert value("node_bonding_active", {"master": "bond1"}) == 1
    # bonding_masters is a file, not a device.
    assert value("node_network_up", {"device": "bonding_masters"}) is None


@pytest.mark.parametrize("collector", NETWORK)
def test_absent_sources_export_nothing_and_do_not_fail(tmp_path: Path, collector: str) -> None:
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    reg = registry(root)
    assert success(reg, collector) == 1
    names = {m.name for m in reg.collect()}
    assert not any(
        name.startswith(("node_network", "node_netstat", "node_sockstat")) for name in names
    )
    assert not any(
        name.startswith(("node_softnet", "node_udp", "node_arp", "node_nf_")) for name in names
    )
    assert not any(name.startswith("node_bonding") for name in names)


@pytest.mark.parametrize("collector", NETWORK)
def test_each_network_collector_is_timed(tmp_path: Path, collector: str) -> None:
    reg = registry(make_root(tmp_path))
    seconds = reg.get_sample_value(
        "node_scrape_collector_duration_seconds", {"collector": collector}
    )
    assert seconds is not None
    assert 0 <= seconds < 1


def test_network_files_are_those_of_pid_1(tmp_path: Path) -> None:
    """With the host's PIDs but its own network (the Compose exporter), /proc/net is the
    container's; /proc/1/net is the host's, whose devices /sys/class/net lists."""
    root = make_root(tmp_path)
    host_net = root / "proc" / "1" / "net"
    host_net.mkdir(parents=True)
    lines = (NET / "dev").read_text().splitlines()
    (host_net / "dev").write_text("\n".join([*lines[:2], lines[3].replace("eth0", "enp1s0")]))
    reg = registry(root)
    assert reg.get_sample_value("node_network_receive_bytes_total", {"device": "enp1s0"}) > 0
    assert reg.get_sample_value("node_network_receive_bytes_total", {"device": "eth0"}) is None
    assert reg.get_sample_value("node_sockstat_sockets_used") is None  # not in 1/net here


def test_a_failing_part_is_logged_once_and_its_recovery_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exporter.collectors.host")
    root = make_root(tmp_path)
    softnet = root / "proc" / "net" / "softnet_stat"
    good = softnet.read_text()
    softnet.write_text("00015c73 00020e76\n")
    reg = registry(root)
    for _ in range(3):
        assert reg.get_sample_value("node_scrape_collector_success", {"collector": "softnet"}) == 0
    softnet.write_text(good)
    assert success(reg, "softnet") == 1
    # (This fake root has no /proc/stat or meminfo: those parts fail too, and log their own.)
    messages = [r.getMessage() for r in caplog.records if "softnet" in r.getMessage()]
    assert messages == [
        "node collector softnet failed: ValueError: 2 columns in softnet_stat, at least 9 expected",
        "node collector softnet recovered",
    ]


@pytest.mark.parametrize(
    ("collector", "source"),
    [
        ("netdev", "proc/net/dev"),
        ("netstat", "proc/net/netstat"),
        ("sockstat", "proc/net/sockstat"),
        ("softnet", "proc/net/softnet_stat"),
        ("arp", "proc/net/arp"),
        ("bonding", "sys/class/net/bonding_masters"),
    ],
)
def test_a_source_present_but_unreadable_fails_its_collector_alone(
    tmp_path: Path, collector: str, source: str
) -> None:
    """Absent means "nothing to export"; a file there that cannot be read is a failure, as
    node_exporter reports it, not a silent empty answer."""
    root = make_root(tmp_path)
    path = root / source
    path.unlink(missing_ok=True)
    path.mkdir(parents=True)  # reading it fails with EISDIR, for root too
    reg = registry(root)
    assert success(reg, collector) == 0
    others = [name for name in NETWORK if name != collector]
    assert [success(reg, name) for name in others] == [1] * len(others)
