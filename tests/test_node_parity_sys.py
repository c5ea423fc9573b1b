"""Disk, memory, pressure, scheduler, clock, CPU and OS families against Debian's node_exporter.

Two comparisons with the real node_exporter 1.5 on this machine: on this host (same type,
label names and equal values where they hold still between two reads), and on a fake root
built from captured files (tests/fixtures/hostsys/root: discards and flush counters, udev
data, cpufreq, thermal throttles, irq pressure, schedstat, which this VM lacks), where both
exporters read the same files so every value must be equal.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from exporter.collectors.host import HostCollector
from exporter.registry import build_registry
from stackwatch.config import ExporterConfig
from tests.support.node_exporter import Family, families, node_exporter

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULTS = ExporterConfig()

# This part of node_exporter: its collectors and their families' name prefixes.
COLLECTORS = (
    "cpu",
    "cpufreq",
    "diskstats",
    "entropy",
    "filefd",
    "os",
    "pressure",
    "schedstat",
    "selinux",
    "timex",
    "vmstat",
)
PREFIXES = (
    "node_cpu_",
    "node_disk_",
    "node_entropy_",
    "node_filefd_",
    "node_os_",
    "node_pressure_",
    "node_schedstat_",
    "node_selinux_",
    "node_timex_",
    "node_vmstat_",
)
# Families whose value holds still between node_exporter's read and ours on a live host.
STABLE = (
    "node_os_info",
    "node_os_version",
    "node_entropy_pool_size_bits",
    "node_filefd_maximum",
    "node_selinux_enabled",
    "node_disk_info",
    "node_timex_status",
    "node_timex_sync_status",
    "node_timex_tick_seconds",
    "node_timex_loop_time_constant",
    "node_timex_tai_offset_seconds",
    "node_vmstat_oom_kill",
    "node_vmstat_pswpin",
    "node_vmstat_pswpout",
)


def ours(root: Path, clock_ticks: int | None = None) -> dict[str, Family]:
    host = HostCollector(
        root,
        DEFAULTS.filesystem_mount_points_exclude,
        DEFAULTS.filesystem_fs_types_exclude,
        clock_ticks=clock_ticks,
    )
    # Only this part's collectors: a fake root has no meminfo or mounts.
    host.collectors = {name: part for name, part in host.collectors.items() if name in COLLECTORS}
    return families(generate_latest(build_registry({"host": host})).decode())


def mine(exposed: dict[str, Family]) -> dict[str, Family]:
    return {
        name: family
        for name, family in exposed.items()
        if name.startswith(PREFIXES) and name != "node_cpu_seconds_total"
    }


def differences(
    theirs: dict[str, Family], ours: dict[str, Family], equal: Iterator[str] | tuple[str, ...]
) -> list[str]:
    """Every way our families differ from node_exporter's, one line each."""
    problems = []
    for name, family in sorted(theirs.items()):
        if name not in ours:
            problems.append(f"{name}: missing")
            continue
        other = ours[name]
        if other.type != family.type:
            problems.append(f"{name}: type {other.type}, node_exporter {family.type}")
        if other.label_names != family.label_names:
            problems.append(
                f"{name}: labels {sorted(other.label_names)}, "
                f"node_exporter {sorted(family.label_names)}"
            )
        if other.help != family.help:
            problems.append(f"{name}: help {other.help!r}, node_exporter {family.help!r}")
        if name in equal and other.samples != family.samples:
            problems.append(f"{name}: samples {other.samples}, node_exporter {family.samples}")
    return problems


def test_this_host_matches_node_exporter() -> None:
    with node_exporter() as exporter:
        theirs = mine(exporter.families())
    exposed = mine(ours(Path("/")))
    assert {"node_os_info", "node_filefd_maximum", "node_timex_sync_status"} <= theirs.keys()
    problems = differences(theirs, exposed, STABLE)
    print("\n".join(problems))
    assert problems == []


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """The captured tree, with this kernel's /proc/stat (guest columns) for the cpu collector."""
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "hostsys" / "root", root)
    shutil.copy(FIXTURES / "proc" / "stat", root / "proc" / "stat")
    return root


def test_captured_tree_matches_node_exporter_value_for_value(fake_root: Path) -> None:
    flags = [f"--collector.{name}" for name in COLLECTORS if name != "selinux"]
    with node_exporter(
        "--collector.disable-defaults",
        *flags,
        f"--path.rootfs={fake_root}",
        f"--path.procfs={fake_root / 'proc'}",
        f"--path.sysfs={fake_root / 'sys'}",
        f"--path.udev.data={fake_root / 'run' / 'udev' / 'data'}",
    ) as exporter:
        theirs = mine(exporter.families())
    # node_exporter's selinux reads the live host's selinuxfs, whatever its root, and its
    # clock_ticks are the kernel's USER_HZ.
    exposed = mine(ours(fake_root, clock_ticks=100))
    theirs.pop("node_selinux_enabled", None)
    live = {name for name in theirs if name.startswith("node_timex_")} - set(STABLE)
    problems = differences(theirs, exposed, tuple(set(theirs) - live))
    print("\n".join(problems))
    assert problems == []
    assert {
        "node_disk_discards_completed_total",
        "node_disk_flush_requests_total",
        "node_disk_filesystem_info",
        "node_disk_device_mapper_info",
        "node_disk_ata_rotation_rate_rpm",
        "node_cpu_frequency_hertz",
        "node_cpu_core_throttles_total",
        "node_cpu_package_throttles_total",
        "node_schedstat_running_seconds_total",
    } <= theirs.keys()
    # Beyond node_exporter 1.5: irq pressure (its 1.8 name), and SELinux in the fake root.
    assert set(exposed) - set(theirs) == {
        "node_pressure_irq_stalled_seconds_total",
        "node_selinux_enabled",
        "node_selinux_config_mode",
        "node_selinux_current_mode",
    }
