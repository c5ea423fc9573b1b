"""Scrape latency and memory of the exporter's host + services collectors, beside node_exporter.

Run: ``.venv/bin/python bench/scrape.py`` (``--scrapes``, ``--load-seconds``, ``--scrapers``).
Both exporters run on loopback in the same run, scraped one after the other, so the numbers
compare like with like. Then a load run: concurrent scrapers against stackwatch for a while,
counting errors, latency and RSS before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import percentile, rss_mb, wait_up  # noqa: E402

from tests.support.http import LocalServer, fixed  # noqa: E402
from tests.support.procs import free_port  # noqa: E402

# node_exporter with its default collectors, as the host collector now covers all of them
NODE_EXPORTER_FLAGS: list[str] = []


def scrape_latencies(url: str, count: int) -> list[float]:
    session = requests.Session()
    session.get(url, timeout=5)  # warm
    out = []
    for _ in range(count):
        start = time.perf_counter()
        response = session.get(url, timeout=5)
        out.append(time.perf_counter() - start)
        response.raise_for_status()
    return out


def local_services(count: int) -> tuple[LocalServer, list[str]]:
    server = LocalServer(fixed(200)).start()
    return server, [f"{server.url}/health/{i}" for i in range(count)]


def load_run(url: str, pid: int, scrapers: int, seconds: float) -> dict[str, float]:
    before = rss_mb(pid)
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors
        session = requests.Session()
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                session.get(url, timeout=10).raise_for_status()
            except requests.RequestException:
                with lock:
                    errors += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    with ThreadPoolExecutor(scrapers) as pool:
        for _ in range(scrapers):
            pool.submit(worker)
    return {
        "scrapes": len(latencies),
        "errors": errors,
        "p50_ms": percentile(latencies, 0.5) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else 0.0,
        "rss_before": before,
        "rss_after": rss_mb(pid),
    }


def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--services", type=int, default=5, help="local services to probe")
    parser.add_argument("--scrapers", type=int, default=50)
    parser.add_argument("--load-seconds", type=float, default=60)
    args = parser.parse_args()

    node_exporter = shutil.which("prometheus-node-exporter")
    if node_exporter is None:
        raise SystemExit("prometheus-node-exporter not found: run `make system-deps` as root")
    server, urls = local_services(args.services)
    workdir = Path(tempfile.mkdtemp(prefix="stackwatch-bench-"))
    config = workdir / "stackwatch.yml"
    config.write_text(
        "exporter:\n  probe_interval: 5s\n  collectors: {host: true, services: true}\n"
        "docker: {enabled: false}\nservices:\n"
        + "".join(f"  - {{name: svc{i}, url: '{url}'}}\n" for i, url in enumerate(urls))
    )
    ours_port, theirs_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    results: list[tuple[str, list[float], float]] = []
    try:
        ours = start(
            [
                sys.executable,
                "-m",
                "stackwatch",
                "--log-level",
                "WARNING",
                "exporter",
                "--config",
                str(config),
                "--listen",
                f"127.0.0.1:{ours_port}",
            ]
        )
        theirs = start(
            [node_exporter, f"--web.listen-address=127.0.0.1:{theirs_port}", *NODE_EXPORTER_FLAGS]
        )
        procs += [ours, theirs]
        targets: list[tuple[str, str, subprocess.Popen[bytes]]] = [
            ("stackwatch (host+services)", f"http://127.0.0.1:{ours_port}/metrics", ours),
            ("node_exporter", f"http://127.0.0.1:{theirs_port}/metrics", theirs),
        ]
        for _, url, proc in targets:
            wait_up(url, proc)
        time.sleep(1)  # first probe round
        # interleave rounds so background noise hits both alike
        samples: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        rounds = 5
        for _ in range(rounds):
            for name, url, _ in targets:
                samples[name] += scrape_latencies(url, args.scrapes // rounds)
        for name, _, proc in targets:
            results.append((name, samples[name], rss_mb(proc.pid)))

        print(f"\nScrape latency over {args.scrapes} sequential scrapes ({args.services} services)")
        print(f"{'exporter':<28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'RSS MB':>8}")
        for name, lat, rss in results:
            print(
                f"{name:<28} {percentile(lat, 0.5) * 1000:8.2f} {percentile(lat, 0.99) * 1000:8.2f}"
                f" {statistics.fmean(lat) * 1000:8.2f} {rss:8.1f}"
            )
        ratio = percentile(results[0][1], 0.5) / percentile(results[1][1], 0.5)
        print(f"p50 ratio stackwatch / node_exporter: {ratio:.2f} (target <= 1, bar <= 1.5)")
        print(f"RSS: {results[0][2]:.1f} MB (target <= 60 MB)")

        if args.load_seconds > 0:
            load = load_run(targets[0][1], ours.pid, args.scrapers, args.load_seconds)
            print(f"\nLoad: {args.scrapers} concurrent scrapers for {args.load_seconds:g} s")
            print(
                f"{'scrapes':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'RSS before':>11} {'RSS after':>10}"
            )
            print(
                f"{load['scrapes']:8.0f} {load['errors']:7.0f} {load['p50_ms']:8.1f} "
                f"{load['p99_ms']:8.1f} {load['rss_before']:9.1f}MB {load['rss_after']:8.1f}MB"
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
