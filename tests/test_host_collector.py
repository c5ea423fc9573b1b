"""The host collector: node_exporter's names and values, read from fake /proc trees."""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from exporter.collectors.host import HostCollector
from exporter.collectors.node.uname import UnameCollector
from exporter.errors import ExporterError
from exporter.procfs.loadavg import parse_loadavg
from exporter.procfs.meminfo import parse_meminfo
from exporter.procfs.stat import parse_stat
from exporter.registry import build_registry
from stackwatch.config import ExporterConfig
from stackwatch.filesystems import parse_mounts
from tests.support.fuse import hung_mount
from tests.support.procs import wait_for
from tests.support.timing import within

PROC = Path(__file__).parent / "fixtures" / "proc"
GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "host.prom"
DEFAULTS = ExporterConfig()


def make_root(tmp_path: Path, stat: str = "stat.small") -> Path:
    """A fake host root: /proc files from fixtures and the mount points as folders."""
    root = tmp_path / "root"
    proc = root / "proc"
    (proc / "1").mkdir(parents=True)
    shutil.copy(PROC / stat, proc / "stat")
    shutil.copy(PROC / "meminfo", proc / "meminfo")
    (proc / "loadavg").write_text("0.52 0.58 0.59 2/345 12345\n")
    shutil.copy(PROC / "mounts", proc / "1" / "mounts")
    for pid in ("1", "42", "4242"):
        (proc / pid).mkdir(exist_ok=True)
    (proc / "self").mkdir()
    for mount in parse_mounts((PROC / "mounts").read_text()):
        (root / mount.mountpoint.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return root


def collector(root: Path) -> HostCollector:
    return HostCollector(
        root,
        DEFAULTS.filesystem_mount_points_exclude,
        DEFAULTS.filesystem_fs_types_exclude,
        clock_ticks=100,
    )


def test_parse_stat() -> None:
    stat = parse_stat((PROC / "stat.small").read_text())
    assert [c.cpu for c in stat.cpus] == ["0", "1"]
    assert stat.cpus[0].modes == {
        "user": 600,
        "nice": 10,
        "system": 200,
        "idle": 25000,
        "iowait": 20,
        "irq": 0,
        "softirq": 5,
        "steal": 3,
    }
    assert (stat.boot_time, stat.procs_running, stat.procs_blocked) == (1700000000, 3, 1)
    assert (stat.context_switches, stat.forks, stat.interrupts) == (987654, 4321, 123456)


def test_parse_stat_of_this_kernel() -> None:
    stat = parse_stat((PROC / "stat").read_text())
    assert len(stat.cpus) >= 1
    assert all(len(cpu.modes) == 8 for cpu in stat.cpus)


def test_parse_stat_rejects_other_files() -> None:
    with pytest.raises(ValueError, match="not a /proc/stat file"):
        parse_stat("MemTotal: 1 kB\n")


def test_parse_meminfo_uses_node_exporter_names() -> None:
    text = "MemTotal:  1000 kB\nActive(anon):  12 kB\nHugePages_Total:  4\nHugepagesize: 2048 kB\n"
    assert parse_meminfo(text) == {
        "MemTotal_bytes": 1024000.0,
        "Active_anon_bytes": 12288.0,
        "HugePages_Total": 4.0,
        "Hugepagesize_bytes": 2097152.0,
    }


def test_parse_loadavg() -> None:
    load = parse_loadavg("0.52 0.58 0.59 2/345 12345\n")
    assert (load.load1, load.load5, load.load15, load.threads) == (0.52, 0.58, 0.59, 345)


def test_parse_mounts_unescapes_paths() -> None:
    mounts = parse_mounts((PROC / "mounts").read_text())
    assert "/srv/my data" in [m.mountpoint for m in mounts]
    assert mounts[5].options[0] == "ro"


def test_default_exclusions_match_node_exporter(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    mounts = [(m.mountpoint, m.fstype) for m in collector(root).filesystem.mounts()]
    # pseudo filesystems, /dev, /proc, /sys, docker layers and netns are excluded; tmpfs stays;
    # a mount point listed twice is reported once
    assert mounts == [
        ("/", "ext4"),
        ("/run", "tmpfs"),
        ("/boot/efi", "vfat"),
        ("/srv/my data", "ext4"),
    ]


def test_values_agree_with_the_files(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    registry = build_registry({"host": collector(root)})

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("node_cpu_seconds_total", cpu="1", mode="idle") == 250.0
    assert value("node_cpu_seconds_total", cpu="0", mode="steal") == 0.03
    assert value("node_boot_time_seconds") == 1700000000
    assert value("node_procs_running") == 3
    assert value("node_procs_blocked") == 1
    assert value("node_processes_pids") == 3
    assert value("node_processes_threads") == 345
    assert value("node_load1") == 0.52
    assert value("node_load15") == 0.59
    meminfo = parse_meminfo((PROC / "meminfo").read_text())
    for key in (
        "MemTotal",
        "MemAvailable",
        "MemFree",
        "Buffers",
        "Cached",
        "SwapTotal",
        "SwapFree",
    ):
        assert value(f"node_memory_{key}_bytes") == meminfo[f"{key}_bytes"]
    labels = {"device": "/dev/vdb", "fstype": "ext4", "mountpoint": "/srv/my data"}

    def agrees_with_statvfs(name: str, field: Callable[[os.statvfs_result], int]) -> None:
        # the folder is on the real filesystem, where other processes use space and inodes
        # meanwhile: the scrape's value lies between a statvfs just before and one just after
        before = field(os.statvfs(root / "srv" / "my data"))
        got = value(name, **labels)
        after = field(os.statvfs(root / "srv" / "my data"))
        assert got is not None
        assert min(before, after) <= got <= max(before, after), (name, before, got, after)

    agrees_with_statvfs("node_filesystem_size_bytes", lambda st: st.f_blocks * st.f_bsize)
    agrees_with_statvfs("node_filesystem_avail_bytes", lambda st: st.f_bavail * st.f_bsize)
    agrees_with_statvfs("node_filesystem_files_free", lambda st: st.f_ffree)
    assert value("node_filesystem_readonly", **labels) == 0
    efi = {"device": "/dev/vda15", "fstype": "vfat", "mountpoint": "/boot/efi"}
    assert value("node_filesystem_readonly", **efi) == 1
    assert (
        value(
            "node_uname_info",
            **{
                "sysname": os.uname().sysname,
                "nodename": os.uname().nodename,
                "release": os.uname().release,
                "version": os.uname().version,
                "machine": os.uname().machine,
                "domainname": "(none)",
            },
        )
        == 1
    )
    assert value("stackwatch_scrape_collector_success", collector="host") == 1


def uname_labels(root: Path) -> dict[str, str]:
    registry = build_registry({"host": collector(root)})
    [sample] = [
        s for family in registry.collect() for s in family.samples if s.name == "node_uname_info"
    ]
    return dict(sample.labels)


def test_under_a_host_root_the_host_name_is_the_hosts_not_the_containers(tmp_path: Path) -> None:
    """In a container uname(2) names the container (its id, new on every recreate): with the
    host's / mounted as the root, the name is the host's own /etc/hostname."""
    root = make_root(tmp_path)
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("# set by cloud-init\nweb-7.example.org\n")
    labels = uname_labels(root)
    assert labels["nodename"] == "web-7.example.org"
    assert labels["release"] == os.uname().release  # the kernel is the host's anyway


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_without_a_host_name_file_the_name_is_unames(tmp_path: Path, content: str | None) -> None:
    root = make_root(tmp_path)
    if content is not None:
        (root / "etc").mkdir()
        (root / "etc" / "hostname").write_text(content)
    assert uname_labels(root)["nodename"] == os.uname().nodename


def test_on_its_own_root_the_name_is_unames() -> None:
    """On / itself the kernel's name is the truth (it may differ from a stale /etc/hostname)."""
    assert UnameCollector(Path("/")).nodename() == os.uname().nodename


def test_unreadable_mount_point_is_a_device_error(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    shutil.rmtree(root / "srv")
    registry = build_registry({"host": collector(root)})
    labels = {"device": "/dev/vdb", "fstype": "ext4", "mountpoint": "/srv/my data"}
    assert registry.get_sample_value("node_filesystem_device_error", labels) == 1
    assert registry.get_sample_value("node_filesystem_size_bytes", labels) is None
    assert (
        registry.get_sample_value("stackwatch_scrape_collector_success", {"collector": "host"}) == 1
    )


@pytest.mark.integration
def test_a_hung_mount_is_skipped_after_the_timeout_until_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real hung filesystem (tests/support/fuse.py): statvfs blocks as on a dead NFS server.

    The fake mount table lists it as the NFS export it stands for."""
    root = make_root(tmp_path)
    with (root / "proc" / "1" / "mounts").open("a") as mounts:
        mounts.write("nas:/export/backup /mnt/backup nfs4 rw,relatime,hard 0 0\n")
    (root / "mnt" / "backup").mkdir(parents=True)
    host = HostCollector(
        root,
        DEFAULTS.filesystem_mount_points_exclude,
        DEFAULTS.filesystem_fs_types_exclude,
        clock_ticks=100,
        mount_timeout=0.5,
    )
    registry = build_registry({"host": host})
    hung = {"device": "nas:/export/backup", "fstype": "nfs4", "mountpoint": "/mnt/backup"}
    healthy = {"device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"}

    def scrape() -> tuple[float, dict[str, float | None]]:
        # on a thread: a scrape that hangs fails the test instead of hanging it
        texts: list[str] = []
        started = time.perf_counter()
        thread = threading.Thread(
            target=lambda: texts.append(generate_latest(registry).decode()), daemon=True
        )
        thread.start()
        thread.join(10)
        elapsed = time.perf_counter() - started
        assert texts, "the scrape hung on the hung mount"
        text = texts[0]
        assert 'stackwatch_scrape_collector_success{collector="host"} 1.0' in text
        return elapsed, {
            "hung_error": registry.get_sample_value("node_filesystem_device_error", hung),
            "hung_size": registry.get_sample_value("node_filesystem_size_bytes", hung),
            "healthy_size": registry.get_sample_value("node_filesystem_size_bytes", healthy),
        }

    with caplog.at_level(logging.INFO, logger="stackwatch.mountstats"):
        with hung_mount(root / "mnt" / "backup") as mount:
            elapsed, seen = scrape()
            assert elapsed < within(3), "the first scrape waited on the hung mount past its timeout"
            assert seen["hung_error"] == 1.0
            assert seen["hung_size"] is None
            assert seen["healthy_size"]
            # later scrapes skip it without waiting, and no second call piles up on it
            for _ in range(3):
                elapsed, seen = scrape()
                assert elapsed < within(0.4)
                assert seen["hung_error"] == 1.0
                assert seen["healthy_size"]
            assert host.filesystem.mount_stats.stuck == {str(root / "mnt" / "backup")}
            mount.abort()  # the blocked call returns (with an error): the mount is retried
            wait_for(lambda: not host.filesystem.mount_stats.stuck, 5, "the blocked call to return")
        elapsed, seen = scrape()
        assert seen["hung_error"] == 0.0
        assert seen["hung_size"]
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "statvfs blocked for over 0.5s" in m]) == 1
    assert any(m.endswith("answers again") for m in messages)


def test_golden_exposition(tmp_path: Path) -> None:
    """Names, types, HELP and label sets match the recorded exposition (values masked)."""
    root = make_root(tmp_path)
    text = generate_latest(build_registry({"host": collector(root)})).decode()
    masked = []
    for line in text.splitlines():
        if not line.startswith("#"):
            line = line.rsplit(" ", 1)[0]  # the value
            line = re.sub(r"^(node_uname_info|stackwatch_build_info)\{.*\}", r"\1{...}", line)
        masked.append(line)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text("\n".join(masked) + "\n")
    assert "\n".join(masked) + "\n" == GOLDEN.read_text()


def test_missing_proc_fails_at_start_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(ExporterError) as info:
        collector(tmp_path).check()
    assert str(info.value) == (
        f"exporter.rootfs: {tmp_path}/proc/stat: no such file "
        "(set exporter.rootfs to the host's root, e.g. /host)"
    )


def test_file_vanishing_after_start_fails_only_this_collector(tmp_path: Path) -> None:
    """As in node_exporter: the meminfo collector fails alone, the others' families stay."""
    root = make_root(tmp_path)
    (root / "proc" / "meminfo").unlink()
    registry = build_registry({"host": collector(root)})

    def success(name: str) -> float | None:
        return registry.get_sample_value("node_scrape_collector_success", {"collector": name})

    assert success("meminfo") == 0
    assert success("loadavg") == 1
    assert registry.get_sample_value("node_memory_MemTotal_bytes") is None
    assert registry.get_sample_value("node_load1") == 0.52
    assert (
        registry.get_sample_value("stackwatch_scrape_collector_success", {"collector": "host"}) == 1
    )
