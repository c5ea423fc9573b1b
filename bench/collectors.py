"""Scrape latency of the Docker and Kubernetes collectors at scale.

Run: ``.venv/bin/python bench/collectors.py`` (``--scrapes``, ``--counts``, ``--pods``).
Docker: a real dockerd on its own socket (as in the tests), idle containers made with
``docker create``, the exporter scraped over HTTP in both of its modes. "events" is the default:
the collector follows Docker's event stream, so the first scrape after adding containers
inspects each new one (cold) and later scrapes make no API call at all (warm). "list" is
``docker.events: false``, and what every scrape costs while the stream is down and once every
``docker.resync_interval``: one list call per scrape, inspecting nothing when nothing changed.
For comparison the SDK's ``containers.list(all=True)``, which inspects every container, is
timed too. Kubernetes: the real client against a local server answering with a 2,000-pod list
(the test fixtures cloned); the refresh runs in the background, the scrape serves the snapshot.

"collect()" is the collector's own part of a scrape (for Docker: the list call if any, inspects
of changed containers, building the samples); the rest of a scrape is the text exposition.
Wall times depend on what else the machine runs (the load average is printed); "scrape CPU" is
the CPU time of this process during a scrape (exporter and HTTP client), which depends on it
less.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import percentile  # noqa: E402

from exporter.collectors.docker import DockerCollector  # noqa: E402
from exporter.collectors.kubernetes import KubernetesCollector  # noqa: E402
from exporter.registry import build_registry  # noqa: E402
from exporter.server import Exporter  # noqa: E402
from stackwatch.config import Config  # noqa: E402
from tests.support.dockerd import DockerDaemon  # noqa: E402
from tests.test_kubernetes_collector import (  # noqa: E402
    LIST_PATHS,
    FakeApiServer,
    clone_pods,
    load_fixture,
    write_kubeconfig,
)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(call: Callable[[], object], count: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``count`` calls."""
    wall, cpu = [], []
    for _ in range(count):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def scrape(session: requests.Session, url: str) -> None:
    session.get(url, timeout=60).raise_for_status()


def collect_all(collector: DockerCollector) -> None:
    list(collector.collect())


def create_idle(daemon: DockerDaemon, start: int, stop: int) -> None:
    """``docker create`` containers idle-<start>..idle-<stop-1> (created, never started)."""
    api = daemon.api
    host_config = api.create_host_config(network_mode="none")

    def create(index: int) -> None:
        api.create_container(
            daemon.image, "sleep 3600", name=f"idle-{index}", host_config=host_config
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(start, stop)))


def bench_docker(counts: list[int], scrapes: int) -> tuple[list[list[str]], list[str]]:
    rows, notes = [], []
    with DockerDaemon() as daemon:
        exporters: dict[str, tuple[DockerCollector, Exporter, str]] = {}
        for mode, events in (("events", True), ("list", False)):
            config = Config.model_validate(
                {"docker": {"host": daemon.host, "timeout": "30s", "events": events}}
            )
            collector = DockerCollector.from_config(config)
            exporter = Exporter({"docker": collector})
            host, port = exporter.serve("127.0.0.1:0")
            exporters[mode] = (collector, exporter, f"http://{host}:{port}/metrics")
        session = requests.Session()
        created = 0
        try:
            deadline = time.monotonic() + 30
            while not exporters["events"][0].watching and time.monotonic() < deadline:
                time.sleep(0.05)
            for count in counts:
                create_idle(daemon, created, count)
                created = max(created, count)
                time.sleep(0.5)  # the last create events reach the stream
                for mode, (collector, _, url) in exporters.items():
                    start = time.perf_counter()
                    text = session.get(url, timeout=120).text
                    cold = time.perf_counter() - start
                    wall, cpu = timed(functools.partial(scrape, session, url), scrapes)
                    collect, _ = timed(functools.partial(collect_all, collector), scrapes)
                    rows.append(
                        [
                            f"docker, {mode}",
                            f"{count} containers",
                            ms(cold),
                            ms(statistics.median(wall)),
                            ms(percentile(wall, 0.95)),
                            ms(statistics.median(collect)),
                            ms(statistics.median(cpu)),
                            str(series_count(text)),
                        ]
                    )
                sdk, _ = timed(lambda: daemon.client.containers.list(all=True), 3)
                notes.append(
                    f"docker, {count} containers: the SDK's containers.list(all=True) "
                    f"(an inspect per container) takes {ms(statistics.median(sdk))}"
                )
                print(f"  docker {count}: done", file=sys.stderr)
        finally:
            for _, exporter, _ in exporters.values():
                exporter.close()
    return rows, notes


def bench_kubernetes(pods: int, scrapes: int, workdir: Path) -> tuple[list[list[str]], list[str]]:
    import kubernetes.client
    import kubernetes.config

    from exporter.exposition import TextRenderer

    render = TextRenderer().render_registry
    lists = {path: load_fixture(name) for path, name in LIST_PATHS.items()}
    lists["/api/v1/pods"]["items"] = clone_pods(lists["/api/v1/pods"]["items"], pods)
    with FakeApiServer(lists) as server:
        kubeconfig = write_kubeconfig(workdir, server.url)
        config = Config.model_validate(
            {
                "kubernetes": {
                    "enabled": True,
                    "kubeconfig": str(kubeconfig),
                    "refresh_interval": "1h",
                }
            }
        )
        collector = KubernetesCollector.from_config(config)
        refresh, _ = timed(collector.refresh, 3)
        registry = build_registry({"kubernetes": collector})
        text = render(registry).decode()
        wall, cpu = timed(lambda: render(registry), scrapes)
        collect, _ = timed(lambda: list(collector.collect()), scrapes)
        collector.close()
        typed_client = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            str(kubeconfig)
        )
        core = kubernetes.client.CoreV1Api(typed_client)
        typed, _ = timed(lambda: core.list_pod_for_all_namespaces(_request_timeout=60), 1)
        typed_client.close()
    row = [
        "kubernetes",
        f"{pods:,} pods",
        f"{ms(statistics.median(refresh))} (background refresh)",
        ms(statistics.median(wall)),
        ms(percentile(wall, 0.95)),
        ms(statistics.median(collect)),
        ms(statistics.median(cpu)),
        str(series_count(text)),
    ]
    note = f"kubernetes, {pods:,} pods: the same list parsed into typed models takes {ms(typed[0])}"
    return [row], [note]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=30, help="warm scrapes per step")
    parser.add_argument("--counts", default="0,100,500", help="idle container counts")
    parser.add_argument("--pods", type=int, default=2000, help="pods in the Kubernetes list")
    args = parser.parse_args()
    if shutil.which("dockerd") is None:
        raise SystemExit("dockerd not found: apt-get install docker.io")
    load_before = os.getloadavg()[0]
    counts = sorted(int(c) for c in args.counts.split(","))
    rows, notes = bench_docker(counts, args.scrapes)
    with tempfile.TemporaryDirectory() as workdir:
        more_rows, more_notes = bench_kubernetes(args.pods, args.scrapes, Path(workdir))
    rows += more_rows
    notes += more_notes
    header = [
        "collector",
        "objects",
        "cold scrape",
        "warm scrape p50",
        "warm p95",
        "collect() p50",
        "scrape CPU p50",
        "series",
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print()
    for note in notes:
        print(note)
    print(
        f"{os.cpu_count()} CPUs, load average {load_before:.2f} before and "
        f"{os.getloadavg()[0]:.2f} after"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
