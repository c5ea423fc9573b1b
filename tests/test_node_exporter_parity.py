"""Golden comparison with Debian's node_exporter on this machine: same families, types, labels.

node_exporter runs with its default collectors on a free loopback port; stackwatch's host
collector reads the same machine (``exporter.rootfs`` ``/``) in the test process. Every family
node_exporter exposes must be exposed by stackwatch with the same type, the same label names,
the same label sets and a HELP that names the same units; the families in ``STABLE`` must also
have equal values, and every counter node_exporter reads between two stackwatch scrapes lies
between their two values (which catches wrong units and wrong sources of the moving ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from prometheus_client import generate_latest

from exporter.collectors.host import HostCollector
from exporter.registry import build_registry
from stackwatch.config import Config
from tests.support.node_exporter import Family, families, node_exporter

pytestmark = pytest.mark.integration

# node_exporter's own process and build metrics, which stackwatch has no reason to copy.
IGNORED = re.compile(r"^(go_|process_|promhttp_|node_exporter_build_info$)")

# Families node_exporter exposes on this machine that stackwatch does not have yet, one per
# line, sorted. Implementing a collector removes its names; the second test keeps it shrinking.
NOT_YET: set[str] = set()

# Families whose values do not move between two reads a second apart on a quiet machine:
# sizes, limits, identities and link properties, never counters of activity or free space.
STABLE = {
    "node_arp_entries",
    "node_time_clocksource_available_info",
    "node_time_clocksource_current_info",
    "node_time_zone_offset_seconds",
    "node_boot_time_seconds",
    "node_cpu_info",
    "node_disk_info",
    "node_entropy_pool_size_bits",
    "node_filefd_maximum",
    "node_filesystem_device_error",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_filesystem_size_bytes",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_Hugepagesize_bytes",
    "node_memory_HugePages_Total",
    "node_memory_VmallocTotal_bytes",
    "node_netstat_Ip_Forwarding",
    "node_network_address_assign_type",
    "node_network_carrier",
    "node_network_carrier_changes_total",
    "node_network_carrier_down_changes_total",
    "node_network_carrier_up_changes_total",
    "node_network_device_id",
    "node_network_dormant",
    "node_network_flags",
    "node_network_iface_id",
    "node_network_iface_link",
    "node_network_iface_link_mode",
    "node_network_info",
    "node_network_mtu_bytes",
    "node_network_name_assign_type",
    "node_network_net_dev_group",
    "node_network_protocol_type",
    "node_network_speed_bytes",
    "node_network_transmit_queue_length",
    "node_network_up",
    "node_nf_conntrack_entries_limit",
    "node_os_info",
    "node_os_version",
    "node_selinux_enabled",
    "node_timex_tai_offset_seconds",
    "node_timex_tick_seconds",
    "node_uname_info",
}

# Families whose label values are not a property of the machine: node_exporter runs
# collectors (btrfs, systemd, nvme...) that stackwatch has no part for.
LABEL_SETS_DIFFER = {"node_scrape_collector_duration_seconds", "node_scrape_collector_success"}

UNITS = re.compile(
    r"\b(bytes|seconds|bits|jiffies|pages|hertz|celsius|volts|amperes|watts|joules|ratio"
    r"|kilobytes|milliseconds|microseconds|nanoseconds)\b",
    re.IGNORECASE,
)


def units(help_text: str) -> set[str]:
    return {unit.lower() for unit in UNITS.findall(help_text)}


@dataclass
class Reads:
    """node_exporter's families, and stackwatch's read just before and just after them."""

    theirs: dict[str, Family]
    before: dict[str, Family]
    after: dict[str, Family]


def out_of_bounds(theirs: Family, before: Family, after: Family) -> list[str]:
    """The samples of a counter node_exporter read that stackwatch's two reads do not bracket."""
    out = []
    for labels, value in sorted(theirs.samples.items()):
        low, high = before.samples.get(labels), after.samples.get(labels)
        # A relative slack of 1e-9: the same ticks divided in another order may differ in the
        # last bit, which is not a difference in what was read.
        slack = 1e-9 * abs(value)
        if low is None or high is None or not low - slack <= value <= high + slack:
            out.append(f"{dict(labels)} {value} not within [{low}, {high}]")
    return out


def differences(theirs: Family, ours: Family) -> list[str]:
    """What a stackwatch family gets wrong against node_exporter's, one phrase each."""
    out = []
    if ours.type != theirs.type:
        out.append(f"type {ours.type}, node_exporter {theirs.type}")
    if ours.label_names != theirs.label_names:
        out.append(f"labels {sorted(ours.label_names)}, node_exporter {sorted(theirs.label_names)}")
    if units(ours.help) != units(theirs.help):
        out.append(f"HELP {ours.help!r}, node_exporter {theirs.help!r}")
    if theirs.name not in LABEL_SETS_DIFFER and set(ours.samples) != set(theirs.samples):
        only_ours = sorted(set(ours.samples) - set(theirs.samples))
        only_theirs = sorted(set(theirs.samples) - set(ours.samples))
        out.append(f"label sets only here {only_ours}, only in node_exporter {only_theirs}")
    elif theirs.name in STABLE and ours.samples != theirs.samples:
        out.append(f"values {ours.samples}, node_exporter {theirs.samples}")
    return out


@pytest.fixture(scope="module")
def reads() -> Reads:
    """node_exporter's families between two reads of stackwatch's."""
    config = Config()
    registry = build_registry({"host": HostCollector.from_config(config)})
    # Debian patches the filesystem exclusions (/mnt, /media, /run); stackwatch's defaults are
    # upstream node_exporter's, so both are handed the same ones.
    exclude = config.exporter
    flags = (
        f"--collector.filesystem.mount-points-exclude={exclude.filesystem_mount_points_exclude}",
        f"--collector.filesystem.fs-types-exclude={exclude.filesystem_fs_types_exclude}",
    )
    with node_exporter(*flags) as exporter:
        exporter.scrape()  # node_exporter's first scrape reads some sources for the first time
        before = families(generate_latest(registry).decode())
        theirs = exporter.families()
        after = families(generate_latest(registry).decode())
    theirs = {name: family for name, family in theirs.items() if not IGNORED.match(name)}
    return Reads(theirs, before, after)


def test_every_node_exporter_family_is_exposed_alike(reads: Reads) -> None:
    problems = []
    for name, family in sorted(reads.theirs.items()):
        if name in NOT_YET:
            continue
        if name not in reads.after:
            problems.append(f"{name}: missing")
            continue
        found = differences(family, reads.after[name])
        if not found and family.type == "counter" and name not in STABLE:
            found = out_of_bounds(family, reads.before[name], reads.after[name])
        problems.extend(f"{name}: {problem}" for problem in found)
    print("\n".join(problems))  # the families that differ, for whoever fixes them
    assert problems == []


def test_not_yet_only_lists_what_is_still_missing(reads: Reads) -> None:
    assert sorted(NOT_YET & set(reads.after)) == []


def test_node_collectors_carry_node_exporter_names(reads: Reads) -> None:
    """Each part's ``collector`` label is a collector node_exporter runs by default here, but
    ``processes``, a node_exporter collector that is off by default (stackwatch's was first)."""

    def names(found: dict[str, Family]) -> set[str]:
        samples = found["node_scrape_collector_success"].samples
        return {dict(labels)["collector"] for labels in samples}

    assert sorted(names(reads.after) - names(reads.theirs) - {"processes"}) == []
