"""Disk, vmstat, pressure, schedstat, file handle, entropy, clock, cpufreq, SELinux and OS
collectors on captured /proc and /sys files (tests/fixtures/hostsys/root), and on a root
without them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.cpu import CpuCollector
from exporter.collectors.node.cpufreq import CpufreqCollector
from exporter.collectors.node.diskstats import DiskstatsCollector
from exporter.collectors.node.entropy import EntropyCollector
from exporter.collectors.node.filefd import FilefdCollector
from exporter.collectors.node.os_release import OsCollector
from exporter.collectors.node.pressure import PressureCollector
from exporter.collectors.node.schedstat import SchedstatCollector
from exporter.collectors.node.selinux import SelinuxCollector
from exporter.collectors.node.timex import STA_NANO, TIME_ERROR, Timex, TimexCollector, timex_values
from exporter.collectors.node.vmstat import VmstatCollector
from exporter.procfs.diskstats import parse_diskstats, parse_udev_properties
from exporter.procfs.os_release import parse_os_release, version_number
from exporter.procfs.selinux import parse_selinux_config
from exporter.procfs.stat import parse_stat
from exporter.sysfs.dmi import dmi_labels

ROOT = Path(__file__).parent / "fixtures" / "hostsys" / "root"
STAT = Path(__file__).parent / "fixtures" / "proc" / "stat"


def parts(root: Path) -> list[NodeCollector]:
    return [
        CpufreqCollector(root),
        DiskstatsCollector(root),
        EntropyCollector(),
        FilefdCollector(),
        OsCollector(root),
        PressureCollector(),
        SchedstatCollector(),
        SelinuxCollector(root),
        VmstatCollector(),
    ]


class _Adapter(Collector):
    def __init__(self, part: NodeCollector, root: Path) -> None:
        self.part, self.root = part, root

    def collect(self):  # type: ignore[no-untyped-def]
        return self.part.collect(ProcFiles(self.root / "proc"))


def registry(root: Path, *nodes: NodeCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    for part in nodes or parts(root):
        reg.register(_Adapter(part, root))
    return reg


def test_parse_diskstats_keeps_the_counters_the_kernel_has() -> None:
    disks = {d.device: d for d in parse_diskstats((ROOT / "proc" / "diskstats").read_text())}
    assert len(disks["sda"].counters) == 17
    assert len(disks["sdb"].counters) == 11  # a kernel before 4.18: no discards, no flush
    assert (disks["sda"].major, disks["sda"].minor) == (8, 0)
    with pytest.raises(ValueError, match="not a /proc/diskstats line"):
        parse_diskstats("8 0 sda 1 2 3\n")


def test_parse_udev_properties_reads_only_device_properties() -> None:
    properties = parse_udev_properties((ROOT / "run" / "udev" / "data" / "b8:0").read_text())
    assert properties["ID_SERIAL_SHORT"] == "WD-WCC6Y4ZXXXXX"
    assert "disk/by-id/ata-WDC_WD10EZEX-08WN4A0_WD-WCC6Y4ZXXXXX" not in properties.values()


def test_diskstats_excludes_partitions_and_scales_to_bytes_and_seconds() -> None:
    reg = registry(ROOT, DiskstatsCollector(ROOT))
    devices = {
        s.labels["device"]
        for m in reg.collect()
        if m.name == "node_disk_reads_completed"
        for s in m.samples
    }
    assert devices == {"sda", "sdb", "nvme0n1", "dm-0", "zram0"}
    assert reg.get_sample_value("node_disk_read_bytes_total", {"device": "sda"}) == (
        1003346126 * 512
    )
    assert reg.get_sample_value("node_disk_io_time_weighted_seconds_total", {"device": "sda"}) == (
        82621.804
    )
    assert reg.get_sample_value("node_disk_flush_requests_total", {"device": "sda"}) == 5612
    assert reg.get_sample_value("node_disk_discards_completed_total", {"device": "sdb"}) is None
    info = {
        "device": "sda",
        "major": "8",
        "minor": "0",
        "path": "pci-0000:00:1f.2-ata-1",
        "wwn": "0x50014ee2b5d1xxxx",
        "model": "WDC_WD10EZEX-08WN4A0",
        "serial": "WD-WCC6Y4ZXXXXX",
        "revision": "01.01A01",
    }
    assert reg.get_sample_value("node_disk_info", info) == 1
    assert reg.get_sample_value("node_disk_ata_rotation_rate_rpm", {"device": "sda"}) == 7200
    mapper = {
        "device": "dm-0",
        "name": "system-root",
        "uuid": "LVM-3zSHSR5Nbf4j7g6auAAefWY2CMaX01theZYEvQyecVsm2WtX3iY5q51qq5UWWUYs",
        "vg_name": "system",
        "lv_name": "root",
        "lv_layer": "",
    }
    assert reg.get_sample_value("node_disk_device_mapper_info", mapper) == 1


def test_vmstat_exports_node_exporters_default_fields_untyped() -> None:
    metrics = {m.name: m for m in registry(ROOT, VmstatCollector()).collect()}
    assert {"node_vmstat_oom_kill", "node_vmstat_pgfault", "node_vmstat_pswpin"} <= set(metrics)
    assert "node_vmstat_nr_free_pages" not in metrics
    assert metrics["node_vmstat_oom_kill"].type == "unknown"  # exposed as untyped


def test_pressure_in_seconds_without_cpu_full() -> None:
    reg = registry(ROOT, PressureCollector())
    assert reg.get_sample_value("node_pressure_cpu_waiting_seconds_total") == 15.0
    assert reg.get_sample_value("node_pressure_memory_stalled_seconds_total") == 1.25
    assert reg.get_sample_value("node_pressure_irq_stalled_seconds_total") == pytest.approx(0.0042)
    assert "node_pressure_cpu_stalled" not in {m.name for m in reg.collect()}


def test_schedstat_filefd_entropy() -> None:
    reg = registry(ROOT, SchedstatCollector(), FilefdCollector(), EntropyCollector())
    assert reg.get_sample_value("node_schedstat_running_seconds_total", {"cpu": "1"}) == (
        1904686.152592476
    )
    assert reg.get_sample_value("node_schedstat_timeslices_total", {"cpu": "0"}) == 4767485306
    assert reg.get_sample_value("node_filefd_allocated") == 1152
    assert reg.get_sample_value("node_filefd_maximum") == 2466126
    assert reg.get_sample_value("node_entropy_available_bits") == 3624
    assert reg.get_sample_value("node_entropy_pool_size_bits") == 4096


def test_cpu_guest_seconds_and_throttles(tmp_path: Path) -> None:
    stat = parse_stat("cpu0 10 2 3 4 5 6 7 8 300 40\nbtime 1\nprocs_running 1\nprocs_blocked 0\n")
    assert stat.cpus[0].guest == {"user": 300, "nice": 40}
    root = tmp_path / "root"
    shutil.copytree(ROOT, root)
    shutil.copy(STAT, root / "proc" / "stat")
    reg = registry(root, CpuCollector(100, root))
    assert reg.get_sample_value("node_cpu_guest_seconds_total", {"cpu": "0", "mode": "nice"}) == 0
    assert reg.get_sample_value("node_cpu_package_throttles_total", {"package": "0"}) == 12
    cores = {"package": "0", "core": "1"}
    assert reg.get_sample_value("node_cpu_core_throttles_total", cores) == 8


def test_cpufreq_in_hertz() -> None:
    reg = registry(ROOT, CpufreqCollector(ROOT))
    assert reg.get_sample_value("node_cpu_scaling_frequency_hertz", {"cpu": "3"}) == 1803000000
    assert reg.get_sample_value("node_cpu_frequency_hertz", {"cpu": "0"}) == 1799998000
    assert reg.get_sample_value("node_cpu_frequency_hertz", {"cpu": "1"}) is None


def test_cpufreq_skips_a_file_only_root_reads() -> None:
    """``cpuinfo_cur_freq`` is 0400 on real hosts; an unprivileged exporter leaves it out. Root
    reads any mode, so under root the collector runs in a child that has become ``nobody``."""
    base = Path(tempfile.mkdtemp(prefix="stackwatch-cpufreq-"))
    try:
        base.chmod(0o755)
        root = base / "root"
        shutil.copytree(ROOT, root)
        (root / "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_cur_freq").chmod(0o400)
        assert _unprivileged(lambda: _cpu0_hertz(root)) == "None"
    finally:
        shutil.rmtree(base)


def test_dmi_leaves_out_a_file_only_root_reads_and_fails_on_one_it_cannot_read_at_all() -> None:
    """``product_serial`` is 0400 on real hosts: left out for other users, as node_exporter
    does; an attribute that is there but fails for everyone (a folder: EISDIR) is an error."""
    base = Path(tempfile.mkdtemp(prefix="stackwatch-dmi-"))
    try:
        base.chmod(0o755)
        folder = base / "sys" / "class" / "dmi" / "id"
        folder.mkdir(parents=True)
        (folder / "sys_vendor").write_text("QEMU\n")
        (folder / "product_serial").write_text("SN-1\n")
        (folder / "product_serial").chmod(0o400)
        assert _unprivileged(lambda: repr(dmi_labels(base / "sys"))) == "{'system_vendor': 'QEMU'}"
        (folder / "board_name").mkdir()
        with pytest.raises(IsADirectoryError):
            dmi_labels(base / "sys")
    finally:
        shutil.rmtree(base)


def _cpu0_hertz(root: Path) -> str:
    reg = registry(root, CpufreqCollector(root))
    return repr(reg.get_sample_value("node_cpu_frequency_hertz", {"cpu": "0"}))


def _unprivileged(work: Callable[[], str]) -> str:
    """``work()`` as it comes out for a user who is not root (``nobody`` when we are root)."""
    if os.geteuid() != 0:
        return work()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, answer through the pipe, never return to pytest
        code = 0
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(writer, work().encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        text = answer.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed"
    return text


def test_selinux_modes() -> None:
    reg = registry(ROOT, SelinuxCollector(ROOT))
    assert reg.get_sample_value("node_selinux_enabled") == 1
    assert reg.get_sample_value("node_selinux_current_mode") == 0  # permissive now
    assert reg.get_sample_value("node_selinux_config_mode") == 1  # enforcing at boot
    assert parse_selinux_config("SELINUX=disabled\n") == -1
    assert parse_selinux_config("# nothing\n") == -1


def test_os_release_prefers_etc_and_parses_again_after_a_change(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(ROOT, root)
    reg = registry(root, OsCollector(root))
    assert (
        reg.get_sample_value(
            "node_os_version", {"id": "ubuntu", "id_like": "debian", "name": "Ubuntu"}
        )
        == 22.04
    )
    (root / "etc" / "os-release").write_text('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\n')
    assert (
        reg.get_sample_value(
            "node_os_version", {"id": "alpine", "id_like": "", "name": "Alpine Linux"}
        )
        == 3.18
    )
    release = parse_os_release('PRETTY_NAME="Debian \\"sid\\"" # comment\nBAD LINE\nX=\'a b\'\n')
    assert release == {"PRETTY_NAME": 'Debian "sid"', "X": "a b"}
    assert [version_number(v) for v in ("12", "rolling", "", "7.")] == [12, 0, 0, 7]


def test_timex_values_follow_the_status_bits() -> None:
    timex = Timex(offset=1500, freq=65536 * 10, maxerror=16000000, status=STA_NANO, tick=10000)
    values = timex_values(0, timex)
    assert values["offset_seconds"] == 1.5e-06  # nanoseconds under STA_NANO
    assert values["frequency_adjustment_ratio"] == 1.00001
    assert (values["maxerror_seconds"], values["tick_seconds"]) == (16.0, 0.01)
    assert values["sync_status"] == 1
    assert timex_values(TIME_ERROR, Timex(offset=1500))["offset_seconds"] == 0.0015
    assert timex_values(TIME_ERROR, Timex())["sync_status"] == 0


def test_timex_reads_this_kernel() -> None:
    reg = registry(ROOT, TimexCollector())
    assert reg.get_sample_value("node_timex_tick_seconds") == 1 / os.sysconf("SC_CLK_TCK")
    assert reg.get_sample_value("node_timex_sync_status") in (0, 1)


def test_a_root_without_these_files_exports_nothing_but_selinux_off(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    names = {m.name for m in registry(tmp_path).collect()}
    assert names == {"node_selinux_enabled"}
    assert registry(tmp_path).get_sample_value("node_selinux_enabled") == 0
