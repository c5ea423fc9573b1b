"""Container usage from cgroup files on a real Docker engine (Debian's dockerd, own socket).

This host runs cgroup v1 with Docker's ``cgroupfs`` driver (``/sys/fs/cgroup/<controller>/
docker/<id>``); v2 trees are covered by fake trees in ``test_cgroups_collector.py``.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors import build_collectors
from exporter.registry import build_registry
from exporter.server import Exporter
from stackwatch.config import Config
from tests.support.dockerd import DockerDaemon
from tests.support.procs import wait_for
from tests.support.prometheus import PrometheusServer
from tests.support.timing import within

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def usage_config(host: str) -> Config:
    return Config.model_validate(
        {
            "docker": {"host": host, "timeout": "5s"},
            "exporter": {"collectors": {"host": False, "services": False, "outbox": False}},
        }
    )


def unique(prefix: str) -> str:
    return f"sw-{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cleanup(dockerd: DockerDaemon) -> Iterator[list[Any]]:
    """Containers appended here are removed (forcibly) after the test."""
    created: list[Any] = []
    yield created
    for container in created:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


@pytest.fixture
def registry(dockerd: DockerDaemon) -> Iterator[CollectorRegistry]:
    """The Docker and cgroups collectors as the exporter builds them, events followed."""
    collectors = build_collectors(usage_config(dockerd.host))
    assert set(collectors) == {"docker", "cgroups"}
    for collector in collectors.values():
        collector.start()
    yield build_registry(collectors)
    for collector in collectors.values():
        collector.close()


def read(registry: CollectorRegistry, metric: str, container: Any, **extra: str) -> float | None:
    labels = {"name": container.name, "image": "stackwatch-busybox:test", "id": container.id}
    return registry.get_sample_value(metric, {**labels, **extra})


def present(number: float | None) -> tuple[float] | None:
    """A value that may be 0 as something ``wait_for`` takes for truthy."""
    return None if number is None else (number,)


WINDOW = 30.0  # the rate() window of the issue: rate(container_cpu_usage_seconds_total[30s])


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, as the kernel counts them (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_idle_seconds() -> float:
    """All CPUs' idle and iowait time so far (the ``cpu`` line of ``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


def cpu_loop_verdict(rate: float, kernel_rate: float, idle_cores: float) -> list[str]:
    """What is wrong with a scraped rate of one busy shell, given the kernel's own view.

    The scraped rate must match the process's CPU time over the same window (within 10% and
    0.05 of a core), never exceed one core, and, when the host had CPU to spare (idle time of
    at least half a core on average, so the loop was not starved), be near one core.
    """
    problems = []
    if abs(rate - kernel_rate) > 0.05 + 0.1 * kernel_rate:
        problems.append(f"rate {rate:.3f} != the process's own {kernel_rate:.3f} core")
    if rate > 1.1:
        problems.append(f"rate {rate:.3f} > one core for a single-threaded loop")
    if idle_cores >= 0.5 and rate < 0.8:
        problems.append(f"rate {rate:.3f} far below one core with {idle_cores:.2f} cores idle")
    return problems


@pytest.mark.parametrize(
    ("rate", "kernel_rate", "idle_cores", "wrong"),
    [
        (0.98, 0.97, 0.9, False),  # a free core: near 1
        (0.40, 0.41, 0.0, False),  # a saturated host: what the kernel gave it
        (0.49, 0.98, 0.9, True),  # a collector reporting half
        (1.96, 0.98, 0.9, True),  # ... or double
        (0.80, 0.41, 0.0, True),  # double on a saturated host
        (0.45, 0.45, 0.9, True),  # the counter and the process both slow with a core idle
    ],
)
def test_the_cpu_loop_verdict_catches_half_and_double(
    rate: float, kernel_rate: float, idle_cores: float, wrong: bool
) -> None:
    assert bool(cpu_loop_verdict(rate, kernel_rate, idle_cores)) == wrong


def test_a_cpu_loop_uses_one_core_in_prometheus_as_the_kernel_counts_it(
    dockerd: DockerDaemon,
    cleanup: list[Any],
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    exporter = Exporter(build_collectors(usage_config(dockerd.host)))
    host, port = exporter.serve("127.0.0.1:0")
    try:
        name = unique("cpuloop")
        cleanup.append(dockerd.run(["sh", "-c", "while :; do :; done"], name=name))
        pid = int(dockerd.client.containers.get(name).attrs["State"]["Pid"])
        prometheus = start_prometheus([f"{host}:{port}"])
        counter = f'container_cpu_usage_seconds_total{{name="{name}",cpu="total"}}'
        prometheus.wait_for_series(counter, timeout=30)
        # the same window read three ways: Prometheus's rate(), the shell's own CPU time
        # (the container's only process: ":" is a builtin) and the host's idle time
        start, kernel_start, idle_start = time.time(), process_cpu_seconds(pid), host_idle_seconds()
        time.sleep(WINDOW)
        end, kernel_end, idle_end = time.time(), process_cpu_seconds(pid), host_idle_seconds()
        result = prometheus.query(f"rate({counter}[{WINDOW:.0f}s])", at=end)
        rate = float(result[0]["value"][1])
        kernel_rate = (kernel_end - kernel_start) / (end - start)
        idle_cores = (idle_end - idle_start) / (end - start)
        assert cpu_loop_verdict(rate, kernel_rate, idle_cores) == [], (
            f"rate {rate:.3f}, process {kernel_rate:.3f}, idle {idle_cores:.2f} cores"
        )
        success = prometheus.query('stackwatch_scrape_collector_success{collector="cgroups"}')
        assert success[0]["value"][1] == "1"
    finally:
        exporter.close()


def test_working_set_grows_as_a_container_allocates(
    dockerd: DockerDaemon, cleanup: list[Any], registry: CollectorRegistry
) -> None:
    # 24 MB held in a shell variable once /tmp/go exists; the echo after the sleep keeps the
    # shell (ash would exec a last command in place of itself, freeing the variable)
    script = (
        "while [ ! -e /tmp/go ]; do sleep 0.1; done; x=$(yes | head -c 24000000); "
        "sleep 1000; echo ${#x}"
    )
    container = dockerd.run(["sh", "-c", script], name=unique("alloc"))
    cleanup.append(container)
    before = wait_for(
        lambda: read(registry, "container_memory_working_set_bytes", container), 20, "working set"
    )
    container.exec_run(["touch", "/tmp/go"])

    def grown() -> float | None:
        now = read(registry, "container_memory_working_set_bytes", container)
        return now if now is not None and now > before + 20 * MIB else None

    wait_for(grown, within(20), "the working set to grow by 20 MiB")
    # one scrape's values: the shell frees its buffers, so memory moves between scrapes
    scrape = {
        s.name: s.value
        for family in registry.collect()
        for s in family.samples
        if s.labels.get("id") == container.id
    }
    # the working set is usage less inactive file pages
    assert scrape["container_memory_usage_bytes"] >= scrape["container_memory_working_set_bytes"]
    assert scrape["container_memory_rss"] > 0


def test_memory_limit_oom_and_tasks(
    dockerd: DockerDaemon, cleanup: list[Any], registry: CollectorRegistry
) -> None:
    # tail of /dev/zero buffers a never-ending line: the kernel kills it at the limit, and the
    # shell (the container's main process) lives on
    script = "sleep 1000 & while [ ! -e /tmp/go ]; do sleep 0.1; done; tail /dev/zero; sleep 1000"
    container = dockerd.run(
        ["sh", "-c", script], name=unique("oom"), mem_limit="16m", memswap_limit="16m"
    )
    cleanup.append(container)
    limit = wait_for(
        lambda: read(registry, "container_spec_memory_limit_bytes", container), 20, "the limit"
    )
    assert limit == 16 * MIB
    assert read(registry, "container_oom_events_total", container) == 0
    processes = read(registry, "container_processes", container)
    assert processes is not None
    assert processes >= 2  # the shell and its background sleep
    container.exec_run(["touch", "/tmp/go"])
    wait_for(
        lambda: (read(registry, "container_oom_events_total", container) or 0) >= 1 or None,
        within(20),
        "container_oom_events_total to count the OOM kill",
    )
    assert read(registry, "container_memory_failcnt", container) is not None


def test_loopback_traffic_in_the_container_namespace_is_counted(
    dockerd: DockerDaemon, cleanup: list[Any], registry: CollectorRegistry
) -> None:
    """Without a bridge a container has only lo; its own namespace's lo, not the host's."""
    script = (
        "mkdir /tmp/www; dd if=/dev/zero of=/tmp/www/f bs=1000 count=2000; "
        "httpd -p 127.0.0.1:8000 -h /tmp/www; while [ ! -e /tmp/go ]; do sleep 0.1; done; "
        "wget -q -O /dev/null http://127.0.0.1:8000/f; sleep 1000"
    )
    container = dockerd.run(["sh", "-c", script], name=unique("net"))
    cleanup.append(container)
    before = wait_for(
        lambda: present(
            read(registry, "container_network_receive_bytes_total", container, interface="lo")
        ),
        20,
        "lo counters",
    )[0]
    assert before < 2_000_000
    container.exec_run(["touch", "/tmp/go"])
    wait_for(
        lambda: (
            (
                read(registry, "container_network_transmit_bytes_total", container, interface="lo")
                or 0
            )
            >= 2_000_000
            or None
        ),
        within(20),
        "2 MB served over the container's lo",
    )
    received = read(registry, "container_network_receive_bytes_total", container, interface="lo")
    assert received is not None
    assert received >= 2_000_000


def test_a_stopped_container_takes_its_usage_series_with_it(
    dockerd: DockerDaemon, cleanup: list[Any], registry: CollectorRegistry
) -> None:
    container = dockerd.run(["sleep", "1000"], name=unique("stop"))
    cleanup.append(container)
    wait_for(
        lambda: read(registry, "container_cpu_usage_seconds_total", container, cpu="total"),
        20,
        "CPU usage",
    )
    container.kill()
    wait_for(
        lambda: (
            read(registry, "container_cpu_usage_seconds_total", container, cpu="total") is None
            or None
        ),
        within(20),
        "the series to go",
    )
    assert read(registry, "container_state_status", container, status="exited") == 1.0


def test_containers_sharing_a_network_namespace_both_show_its_traffic(
    dockerd: DockerDaemon, cleanup: list[Any], registry: CollectorRegistry
) -> None:
    """``--network container:<first>``: one namespace, read once a scrape, shown for both."""
    script = (
        "mkdir /tmp/www; dd if=/dev/zero of=/tmp/www/f bs=1000 count=2000; "
        "httpd -p 127.0.0.1:8000 -h /tmp/www; while [ ! -e /tmp/go ]; do sleep 0.1; done; "
        "wget -q -O /dev/null http://127.0.0.1:8000/f; sleep 1000"
    )
    first = dockerd.run(["sh", "-c", script], name=unique("netns"))
    cleanup.append(first)
    second = dockerd.run(
        ["sleep", "1000"], name=unique("netns-peer"), network_mode=f"container:{first.id}"
    )
    cleanup.append(second)

    def lo_received(container: Any) -> tuple[float] | None:
        return present(
            read(registry, "container_network_receive_bytes_total", container, interface="lo")
        )

    wait_for(lambda: lo_received(first), 20, "lo counters of the first")
    wait_for(lambda: lo_received(second), 20, "lo counters of the second")
    first.exec_run(["touch", "/tmp/go"])

    def both_served() -> tuple[float, float] | None:
        registry_values = [
            read(registry, "container_network_transmit_bytes_total", c, interface="lo")
            for c in (first, second)
        ]
        values = [v or 0 for v in registry_values]
        return (values[0], values[1]) if min(values) >= 2_000_000 else None

    wait_for(both_served, within(20), "2 MB over the shared lo, shown for both containers")
    # one scrape: the same namespace, the same counters under each container's labels
    scrape = {
        s.labels["id"]: s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "container_network_transmit_bytes_total" and s.labels["interface"] == "lo"
    }
    assert scrape[first.id] == scrape[second.id]
