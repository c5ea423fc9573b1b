"""The exporter as Prometheus sees it: isolation of failures, start-up errors, a real scrape."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from exporter.collectors.host import HostCollector
from exporter.procfs.meminfo import parse_meminfo
from exporter.refresh import RefreshLoop
from exporter.server import Exporter
from stackwatch.config import Config
from tests.support.procs import free_port, require_binary, wait_for
from tests.support.timing import within


class Broken(Collector):
    name = "broken"

    def collect(self) -> Iterable[Metric]:
        raise RuntimeError("cannot reach the source")


class Constant(Collector):
    name = "constant"

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("stackwatch_test_constant", "A constant.", value=42)


@pytest.fixture
def exporter() -> Iterator[tuple[Exporter, str]]:
    config = Config()
    collectors = {
        "host": HostCollector.from_config(config),
        "broken": Broken(),
        "constant": Constant(),
    }
    server = Exporter(collectors)
    host, port = server.serve("127.0.0.1:0")
    yield server, f"{host}:{port}"
    server.close()


def test_failing_collector_never_breaks_the_scrape(
    exporter: tuple[Exporter, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, address = exporter
    for _ in range(3):
        response = requests.get(f"http://{address}/metrics", timeout=5)
        assert response.status_code == 200
    text = response.text
    assert 'stackwatch_scrape_collector_success{collector="broken"} 0.0' in text
    assert 'stackwatch_scrape_collector_success{collector="host"} 1.0' in text
    assert 'stackwatch_scrape_collector_success{collector="constant"} 1.0' in text
    assert "stackwatch_test_constant 42.0" in text
    assert "node_memory_MemTotal_bytes" in text
    assert re.search(
        r'stackwatch_scrape_collector_duration_seconds\{collector="host"\} [0-9.e-]+', text
    )
    assert re.search(r'stackwatch_build_info\{version="[^"]+"\} 1.0', text)
    # logged once per change, not on every scrape
    errors = [r for r in caplog.records if "collector broken failed" in r.getMessage()]
    assert len(errors) == 1


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackwatch", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_port_in_use_is_a_one_line_error(exporter: tuple[Exporter, str]) -> None:
    _, address = exporter
    result = run_cli("exporter", "--listen", address)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"stackwatch: cannot listen on {address}: address already in use"
    )
    assert "Traceback" not in result.stderr


def test_missing_proc_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli(
        "exporter",
        "--listen",
        f"127.0.0.1:{free_port()}",
        env={"STACKWATCH__EXPORTER__ROOTFS": str(tmp_path)},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"stackwatch: exporter.rootfs: {tmp_path}/proc/stat: no such file "
        "(set exporter.rootfs to the host's root, e.g. /host)"
    )


def test_bad_listen_flag(tmp_path: Path) -> None:
    result = run_cli("exporter", "--listen", "localhost")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "stackwatch: --listen: invalid listen address 'localhost': "
        "expected HOST:PORT, e.g. 0.0.0.0:9810"
    )


def test_help_explains_every_command() -> None:
    for args in (["--help"], ["exporter", "--help"], ["config", "check", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0
        assert "usage: stackwatch" in result.stdout


def _lint(text: str) -> set[str]:
    promtool = require_binary("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    return {line for line in (result.stdout + result.stderr).splitlines() if line.strip()}


@pytest.mark.integration
def test_promtool_finds_nothing_node_exporter_does_not_share(
    exporter: tuple[Exporter, str], tmp_path: Path
) -> None:
    """promtool's only findings are on names node_exporter (default collectors) has too:
    the camelCase memory and netstat names, ``node_entropy_*_bits``."""
    _, address = exporter
    ours = _lint(requests.get(f"http://{address}/metrics", timeout=5).text)
    node_exporter = require_binary("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    proc = subprocess.Popen(
        [
            node_exporter,
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        theirs_text = wait_for(
            lambda: requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text,
            10,
            "node_exporter",
        )
    finally:
        proc.terminate()
        proc.wait()
    theirs = _lint(theirs_text)
    assert ours, "expected node_exporter's camelCase findings"
    assert all(line.startswith("node_") for line in ours), ours
    assert ours <= theirs | {line for line in ours if "camelCase" in line}


@pytest.mark.integration
def test_real_prometheus_scrapes_the_exporter(
    exporter: tuple[Exporter, str], start_prometheus
) -> None:  # type: ignore[no-untyped-def]
    _, address = exporter
    prometheus = start_prometheus([address])
    series = prometheus.wait_for_series("node_memory_MemTotal_bytes")
    meminfo = parse_meminfo(Path("/proc/meminfo").read_text())
    assert float(series[0]["value"][1]) == meminfo["MemTotal_bytes"]
    assert series[0]["metric"]["job"] == "stackwatch"

    expr = '100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle"}[30s])))'
    result = prometheus.wait_for_series(expr, timeout=30)
    assert 0 <= float(result[0]["value"][1]) <= 100
    up = prometheus.query('up{job="stackwatch"}')
    assert up[0]["value"][1] == "1"


def test_command_line_loads_no_heavy_libraries() -> None:
    """The exporter process stays small: building the CLI imports neither Prefect nor k8s."""
    code = (
        "import sys; from stackwatch.cli import build_parser; build_parser(); "
        "heavy = ('prefect', 'kubernetes', 'docker', 'jinja2'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_fast_text_format_is_byte_identical_to_the_client_library() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.metrics_core import CounterMetricFamily, InfoMetricFamily

    from exporter.exposition import TextRenderer
    from exporter.registry import GuardedCollectors

    class Awkward(Collector):
        name = "awkward"

        def collect(self) -> Iterable[Metric]:
            gauge = GaugeMetricFamily("x_gauge", "help with \\ and\nnewline", labels=["b", "a"])
            gauge.add_metric(['quote " and \\ and\nnewline', "é"], 1e21)
            gauge.add_metric(["inf", ""], float("inf"))
            gauge.add_metric(["nan", "z"], float("nan"))
            gauge.add_metric(["neg", "z"], -12345678.5)
            gauge.add_metric(["small", "z"], 1.5e-7)
            yield gauge
            counter = CounterMetricFamily("x_events", "events", labels=["k"], created=None)
            counter.add_metric(["v"], 3, created=1700000000.5)
            yield counter
            info = InfoMetricFamily("x_build", "build", value={"version": "1"})
            yield info

    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(GuardedCollectors({"awkward": Awkward()}))  # type: ignore[arg-type]
    renderer = TextRenderer()
    expected = generate_latest(registry).split(b"\n")
    for _ in range(2):  # a cold and a warm label cache
        got = renderer.render_registry(registry).split(b"\n")
        assert [line for line in got if b"duration" not in line] == [
            line for line in expected if b"duration" not in line
        ]


def test_refresh_loop_runs_at_once_then_every_interval_until_closed() -> None:
    calls: list[float] = []
    third = threading.Event()

    def refresh() -> None:
        calls.append(time.monotonic())
        if len(calls) == 3:
            third.set()

    loop = RefreshLoop("test-refresh", 0.05, refresh, join_timeout=1)
    started = time.monotonic()
    loop.start()
    loop.start()  # a second start is a no-op
    assert len([t for t in threading.enumerate() if t.name == "test-refresh"]) == 1
    assert third.wait(within(5))
    loop.close()
    assert calls[0] - started < within(0.5), "the first refresh waited for the interval"
    assert all(later - earlier >= 0.045 for earlier, later in itertools.pairwise(calls))
    count = len(calls)
    time.sleep(0.2)
    assert len(calls) == count, "the loop went on after close"
    assert not [t for t in threading.enumerate() if t.name == "test-refresh"]
