"""The cgroups collector on fake cgroup v1 and v2 trees (captured v1 files, kernel-format v2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.cgroups.parse import (
    parse_blkio,
    parse_cpu_max,
    parse_io_stat,
    parse_net_dev,
    parse_proc_cgroup,
    parse_value,
    pick_keyed,
)
from exporter.collectors import build_collectors
from exporter.collectors.cgroups import CgroupsCollector
from exporter.collectors.docker import DockerCollector
from exporter.containers.model import Container, Inspected
from exporter.containers.view import ContainerView
from exporter.registry import build_registry
from stackwatch.config import Config

FIXTURES = Path(__file__).parent / "fixtures" / "cgroup"
V1_ID = "f10b892de08be5a8e1279c58b74d2b1616c494dfe8d73225e490299a4d9a10a7"
V2_ID = "3b5e7f0a9c1d2e4f6a8b0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f"
V2_BARE = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
COMPOSE = {"com.docker.compose.project": "shop", "com.docker.compose.service": "web"}


def container(cid: str, name: str, pid: int, state: str = "running") -> Container:
    inspected = Inspected(
        image="busybox:1", restart_count=0, started_at=None, health="none", pid=pid
    )
    return Container(id=cid, name=name, state=state, labels=COMPOSE, inspected=inspected)


def labels(cid: str, name: str, **extra: str) -> dict[str, str]:
    return {
        "name": name,
        "image": "busybox:1",
        "id": cid,
        "container_label_com_docker_compose_project": "shop",
        "container_label_com_docker_compose_service": "web",
        **extra,
    }


class FixedView(ContainerView):
    """A container view with a fixed set of containers; any Docker API call fails the test."""

    def __init__(self, containers: list[Container]) -> None:
        super().__init__(self._no_client, watch_events=False)
        self.fixed = containers

    @staticmethod
    def _no_client() -> object:
        raise AssertionError("the cgroups collector called the Docker API")

    def containers(self) -> list[Container]:
        return list(self.fixed)

    def current(self) -> list[Container]:
        return list(self.fixed)


def registry_for(root: Path, containers: list[Container]) -> CollectorRegistry:
    return build_registry({"cgroups": CgroupsCollector(root, FixedView(containers), 100)})


# --- parsers --------------------------------------------------------------------------------


def test_parsers_read_limits_devices_and_interfaces() -> None:
    assert parse_value("max\n") is None
    assert parse_value("9223372036854771712\n") is None  # v1's "no limit"
    assert parse_value("16777216\n") == 16777216
    assert parse_cpu_max("max 100000\n") == (None, 100000)
    # a key only at the start of a line: "file" is not the end of "inactive_file"
    stat = "inactive_file 7\nfile_mapped 3\nfile 5\nanon 2"
    assert pick_keyed(stat, ("file", "anon", "shmem")) == {"file": 5, "anon": 2}
    assert pick_keyed("inactive_file 7\n", ("file",)) == {}
    assert parse_cpu_max("50000 100000\n") == (50000, 100000)
    assert parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n") == {
        "8:0": (10, 20)
    }
    assert parse_blkio("8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n") == {"8:0": (10, 20)}
    assert parse_proc_cgroup("2:cpu,cpuacct:/docker/x\n0::/docker/x\n") == {
        "cpu": "/docker/x",
        "cpuacct": "/docker/x",
        "": "/docker/x",
    }
    eth0 = parse_net_dev((FIXTURES / "v2/proc/4242/net/dev").read_text())["eth0"]
    assert (eth0.rx_bytes, eth0.rx_errors, eth0.rx_dropped, eth0.tx_packets) == (
        5826104,
        1,
        3,
        2790,
    )


# --- cgroup v2 ------------------------------------------------------------------------------


def test_v2_usage_with_cadvisor_names_and_labels() -> None:
    registry = registry_for(FIXTURES / "v2", [container(V2_ID, "web", 4242)])
    web = labels(V2_ID, "web")
    expected = {
        "container_cpu_user_seconds_total": 6.1,
        "container_cpu_system_seconds_total": 2.023456,
        "container_cpu_cfs_periods_total": 1200,
        "container_cpu_cfs_throttled_periods_total": 57,
        "container_cpu_cfs_throttled_seconds_total": 3.456789,
        "container_memory_usage_bytes": 52428800,
        "container_memory_working_set_bytes": 52428800 - 12582912,  # usage - inactive_file
        "container_memory_rss": 31457280,
        "container_memory_cache": 18874368,
        "container_memory_swap": 1048576,
        "container_memory_failcnt": 14,
        "container_oom_events_total": 2,
        "container_spec_memory_limit_bytes": 268435456,
        "container_spec_cpu_quota": 50000,
        "container_spec_cpu_period": 100000,
        "container_processes": 2,
        "container_threads": 3,
    }
    for name, number in expected.items():
        assert registry.get_sample_value(name, web) == pytest.approx(number), name
    cpu = registry.get_sample_value("container_cpu_usage_seconds_total", {**web, "cpu": "total"})
    assert cpu == pytest.approx(8.123456)
    eth0 = {**web, "interface": "eth0"}
    for name, number in {
        "container_network_receive_bytes_total": 5826104,
        "container_network_receive_packets_total": 4011,
        "container_network_receive_errors_total": 1,
        "container_network_receive_packets_dropped_total": 3,
        "container_network_transmit_bytes_total": 312880,
        "container_network_transmit_packets_total": 2790,
        "container_network_transmit_errors_total": 0,
        "container_network_transmit_packets_dropped_total": 2,
    }.items():
        assert registry.get_sample_value(name, eth0) == number, name
    nvme = {**web, "device": "/dev/nvme0n1"}
    assert registry.get_sample_value("container_fs_reads_bytes_total", nvme) == 20971520
    assert registry.get_sample_value("container_fs_writes_bytes_total", nvme) == 4194304
    unnamed = {**web, "device": "253:1"}  # no /sys/dev/block entry: the number stays
    assert registry.get_sample_value("container_fs_reads_bytes_total", unnamed) == 4096
    success = registry.get_sample_value(
        "stackwatch_scrape_collector_success", {"collector": "cgroups"}
    )
    assert success == 1.0


def test_v2_absent_files_leave_their_series_out_and_unlimited_is_zero() -> None:
    """A cgroup with only cpu and memory files, found though /proc shows a namespaced path."""
    registry = registry_for(FIXTURES / "v2", [container(V2_BARE, "bare", 5151)])
    bare = labels(V2_BARE, "bare")
    cpu = registry.get_sample_value("container_cpu_usage_seconds_total", {**bare, "cpu": "total"})
    assert cpu == 1.0
    assert registry.get_sample_value("container_memory_working_set_bytes", bare) == 4096
    assert registry.get_sample_value("container_spec_memory_limit_bytes", bare) == 0  # max
    assert registry.get_sample_value("container_spec_cpu_period", bare) == 100000
    assert registry.get_sample_value("container_processes", bare) == 1
    for name in (
        "container_spec_cpu_quota",  # no quota
        "container_cpu_cfs_periods_total",  # cAdvisor: CFS counters only with a quota
        "container_memory_rss",
        "container_memory_swap",
        "container_memory_failcnt",
        "container_oom_events_total",
        "container_threads",
    ):
        assert registry.get_sample_value(name, bare) is None, name
    names = {m.name for m in registry.collect() for s in m.samples if s.labels.get("id") == V2_BARE}
    assert not {n for n in names if n.startswith(("container_network", "container_fs"))}


def test_stopped_and_vanished_containers_have_no_series(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v2", root, symlinks=True)
    registry = registry_for(
        root,
        [
            container(V2_ID, "stopped", 4242, state="exited"),
            container(V2_BARE, "gone", 999999),  # no /proc/999999
        ],
    )
    samples = [s for m in registry.collect() for s in m.samples if s.name.startswith("container_")]
    assert samples == []


# --- cgroup v1 ------------------------------------------------------------------------------


def test_v1_usage_from_captured_files() -> None:
    """Files captured from a container with --memory 16m --cpus 0.5 on this host's cgroup v1."""
    registry = registry_for(FIXTURES / "v1", [container(V1_ID, "v1", 31797)])
    v1 = labels(V1_ID, "v1")
    expected = {
        "container_cpu_user_seconds_total": 1.53,  # 153 ticks of USER_HZ 100
        "container_cpu_system_seconds_total": 0.02,
        "container_cpu_cfs_periods_total": 32,
        "container_cpu_cfs_throttled_periods_total": 28,
        "container_cpu_cfs_throttled_seconds_total": 1.199842487,
        "container_memory_usage_bytes": 5111808,
        "container_memory_working_set_bytes": 5111808 - 4194304,
        "container_memory_rss": 110592,
        "container_memory_cache": 4214784,
        "container_memory_swap": 0,
        "container_memory_failcnt": 0,
        "container_oom_events_total": 0,
        "container_spec_memory_limit_bytes": 16 * 1024 * 1024,
        "container_spec_cpu_quota": 50000,
        "container_spec_cpu_period": 100000,
        "container_processes": 2,
        "container_threads": 2,
    }
    for name, number in expected.items():
        assert registry.get_sample_value(name, v1) == pytest.approx(number), name
    cpu = registry.get_sample_value("container_cpu_usage_seconds_total", {**v1, "cpu": "total"})
    assert cpu == pytest.approx(1.564258216)
    lo = {**v1, "interface": "lo"}
    assert registry.get_sample_value("container_network_receive_bytes_total", lo) == 0
    dm0 = {**v1, "device": "/dev/dm-0"}
    assert registry.get_sample_value("container_fs_reads_bytes_total", dm0) == 1593344
    assert registry.get_sample_value("container_fs_writes_bytes_total", dm0) == 4259840


def test_v1_without_a_memory_controller_has_no_memory_series(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v1", root, symlinks=True)
    shutil.rmtree(root / "sys/fs/cgroup/memory")
    registry = registry_for(root, [container(V1_ID, "v1", 31797)])
    v1 = labels(V1_ID, "v1")
    assert registry.get_sample_value("container_cpu_user_seconds_total", v1) == pytest.approx(1.53)
    for name in ("container_memory_usage_bytes", "container_spec_memory_limit_bytes"):
        assert registry.get_sample_value(name, v1) is None, name


def test_an_unreadable_cgroup_file_fails_only_this_collector(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v2", root, symlinks=True)
    stat = root / f"sys/fs/cgroup/system.slice/docker-{V2_ID}.scope/memory.stat"
    stat.unlink()
    stat.mkdir()  # reading a folder is EISDIR: an error, not an absent file
    registry = registry_for(root, [container(V2_ID, "web", 4242)])
    success = registry.get_sample_value(
        "stackwatch_scrape_collector_success", {"collector": "cgroups"}
    )
    assert success == 0.0


# --- wiring ---------------------------------------------------------------------------------


def test_cgroups_follows_the_docker_section_and_shares_its_container_view() -> None:
    config = Config.model_validate({"docker": {"host": "unix:///nonexistent.sock"}})
    collectors = build_collectors(config)
    docker, cgroups = collectors["docker"], collectors["cgroups"]
    assert isinstance(docker, DockerCollector)
    assert isinstance(cgroups, CgroupsCollector)
    assert cgroups.view is docker.view
    assert list(collectors).index("docker") < list(collectors).index("cgroups")
    off = Config.model_validate({"docker": {"enabled": False}})
    assert "cgroups" not in build_collectors(off)
    alone = Config.model_validate({"exporter": {"collectors": {"docker": False, "cgroups": True}}})
    assert isinstance(build_collectors(alone)["cgroups"], CgroupsCollector)


def test_kept_open_files_show_new_values_and_close_with_their_container(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v2", root, symlinks=True)
    view = FixedView([container(V2_ID, "web", 4242)])
    collector = CgroupsCollector(root, view, 100)
    registry = build_registry({"cgroups": collector})
    web = labels(V2_ID, "web")
    assert registry.get_sample_value("container_memory_usage_bytes", web) == 52428800
    (root / f"sys/fs/cgroup/system.slice/docker-{V2_ID}.scope/memory.current").write_text("7\n")
    assert registry.get_sample_value("container_memory_usage_bytes", web) == 7
    open_files = len(list(Path("/proc/self/fd").iterdir()))
    view.fixed = []
    assert registry.get_sample_value("container_memory_usage_bytes", web) is None
    assert len(list(Path("/proc/self/fd").iterdir())) < open_files  # its files were closed


def test_parsed_files_show_new_values_after_unchanged_scrapes(tmp_path: Path) -> None:
    """A file's parse is reused only while its bytes are the same: each change shows."""
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v2", root, symlinks=True)
    registry = registry_for(root, [container(V2_ID, "web", 4242)])
    web = labels(V2_ID, "web")
    eth0 = {**web, "interface": "eth0"}
    disk = {**web, "device": "/dev/nvme0n1"}
    cpu = {**web, "cpu": "total"}
    folder = root / f"sys/fs/cgroup/system.slice/docker-{V2_ID}.scope"
    for _ in range(2):  # the second scrape reuses every parse
        assert registry.get_sample_value("container_network_receive_bytes_total", eth0) == 5826104
        assert registry.get_sample_value("container_fs_reads_bytes_total", disk) == 20971520
    net = root / "proc/4242/net/dev"
    net.write_text(net.read_text().replace("5826104", "5826999"))
    io = folder / "io.stat"
    io.write_text(io.read_text().replace("rbytes=20971520", "rbytes=20975616"))
    (folder / "cpu.stat").write_text("usage_usec 9000000\nuser_usec 6000000\nsystem_usec 3000000\n")
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n")
    stat = folder / "memory.stat"
    before = registry.get_sample_value("container_memory_working_set_bytes", web)
    assert before is not None
    inactive = next(
        line for line in stat.read_text().splitlines() if line.startswith("inactive_file ")
    )
    number = int(inactive.split()[1])
    stat.write_text(stat.read_text().replace(inactive, f"inactive_file {number + 4096}"))
    assert registry.get_sample_value("container_network_receive_bytes_total", eth0) == 5826999
    assert registry.get_sample_value("container_fs_reads_bytes_total", disk) == 20975616
    assert registry.get_sample_value("container_cpu_usage_seconds_total", cpu) == 9.0
    assert registry.get_sample_value("container_oom_events_total", web) == 2
    assert registry.get_sample_value("container_memory_working_set_bytes", web) == before - 4096


def test_a_process_in_the_root_cgroup_is_not_given_the_hosts_usage(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "v2", root, symlinks=True)
    (root / "sys/fs/cgroup/cpu.stat").write_text("usage_usec 99000000\n")  # the whole host
    (root / "proc/6000").mkdir()
    (root / "proc/6000/cgroup").write_text("0::/\n")
    other = "ab" * 32
    registry = registry_for(root, [container(other, "rooted", 6000)])
    cpu = {**labels(other, "rooted"), "cpu": "total"}
    assert registry.get_sample_value("container_cpu_usage_seconds_total", cpu) is None
