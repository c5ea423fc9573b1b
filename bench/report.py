"""Daily report render time: building the whole report, cold (a fresh process) and warm.

Run: ``.venv/bin/python bench/report.py [--runs N] [--containers N]``. A local HTTP server
answers the Prometheus query API with 24 h of synthetic series (one host, N containers) so the
time is the report's own: its queries' round trips on loopback, the charts and the three
renderings. "cold" is a new interpreter importing the report and building it once (what a
scheduled run pays, matplotlib's import included); "warm" is each further build in it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STEP = 300


def series(expr: str, containers: int, start: float, end: float, step: float) -> list[Any]:
    """Range answers: the host's CPU, RAM and disk, and per container CPU and memory."""
    points = [start + i * step for i in range(int((end - start) // step) + 1)]

    def wave(base: float, amplitude: float, phase: float) -> list[list[Any]]:
        return [[t, str(max(0.0, base + amplitude * math.sin(t / 7200 + phase)))] for t in points]

    host = {"instance": "server:9810", "job": "stackwatch"}
    if "node_cpu_seconds_total" in expr:
        return [{"metric": host, "values": wave(0.35, 0.3, 0)}]
    if "MemAvailable" in expr:
        return [{"metric": host, "values": wave(0.6, 0.1, 1)}]
    if "node_filesystem_avail_bytes" in expr:
        return [
            {
                "metric": {**host, "device": f"/dev/sda{i}", "mountpoint": mount},
                "values": wave(0.5 + 0.1 * i, 0.02, i),
            }
            for i, mount in enumerate(("/", "/var", "/data"))
        ]
    if "container_cpu_usage_seconds_total" in expr:
        return [
            {"metric": {"name": f"app-{i}"}, "values": wave(0.05 * (i + 1), 0.04, i)}
            for i in range(containers)
        ]
    if "container_memory_working_set_bytes" in expr:
        return [
            {"metric": {"name": f"app-{i}"}, "values": wave(2**27 * (i + 1), 2**24, i)}
            for i in range(containers)
        ]
    if expr.startswith("up") or "up{" in expr:
        return [{"metric": host, "values": wave(1, 0, 0)}]
    return []


def samples(expr: str, containers: int, at: float) -> list[Any]:
    """Instant answers: uptime, uname, filesystem sizes, container states."""
    host = {"instance": "server:9810", "job": "stackwatch"}
    if expr.startswith("vector(1)"):
        return [{"metric": {}, "value": [at, "1"]}]
    if "node_boot_time_seconds" in expr:
        return [{"metric": host, "value": [at, "864000"]}]
    if "node_uname_info" in expr:
        return [{"metric": {**host, "nodename": "server"}, "value": [at, "1"]}]
    if "node_filesystem" in expr:
        return [
            {"metric": {**host, "mountpoint": m}, "value": [at, str(2**36)]}
            for m in ("/", "/var", "/data")
        ]
    if "container_state_status" in expr:
        return [
            {"metric": {"name": f"app-{i}", "status": "running"}, "value": [at, "1"]}
            for i in range(containers)
        ]
    return []


def serve(containers: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {
                k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()
            }
            expr = form.get("query", "")
            if self.path.startswith("/api/v1/query_range"):
                result = series(
                    expr, containers, float(form["start"]), float(form["end"]), float(form["step"])
                )
                data = {"resultType": "matrix", "result": result}
            else:
                data = {"resultType": "vector", "result": samples(expr, containers, time.time())}
            raw = json.dumps({"status": "success", "data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CHILD = """
import sys, time, json
t0 = time.perf_counter()
from stackwatch.config import Config
from stackwatch.reports.daily import build_daily_report
config = Config.model_validate({{
    "prometheus": {{"url": "{url}", "retries": 0}},
    "state": {{"path": "/nonexistent/stackwatch.db"}},
}})
t1 = time.perf_counter()
report = build_daily_report(config, flow_runs=None)
t2 = time.perf_counter()
warm = []
for _ in range({runs}):
    a = time.perf_counter()
    build_daily_report(config, flow_runs=None)
    warm.append(time.perf_counter() - a)
print(json.dumps({{"import": t1 - t0, "first": t2 - t1, "warm": warm,
                  "images": [len(i.data) for i in report.images],
                  "matplotlib": "matplotlib" in sys.modules}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--repo", default=str(REPO), help="the checkout whose report to time")
    args = parser.parse_args()
    server = serve(args.containers)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    code = CHILD.format(url=url, runs=args.runs)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=args.repo,
        env={"PYTHONPATH": args.repo, "PATH": "/usr/bin:/bin", "TZ": "UTC"},
        capture_output=True,
        text=True,
        check=True,
    )
    total = time.perf_counter() - started
    result = json.loads(out.stdout.strip().splitlines()[-1])
    server.shutdown()
    print(f"daily report, {args.containers} containers, {args.runs} warm runs ({args.repo})")
    print(f"{'what':<40} {'seconds':>8}")
    print(f"{'process start to exit (cold, all runs)':<40} {total:8.3f}")
    print(f"{'import the report modules':<40} {result['import']:8.3f}")
    print(f"{'first build (cold)':<40} {result['first']:8.3f}")
    print(f"{'further builds (warm, median)':<40} {statistics.median(result['warm']):8.3f}")
    print(f"{'charts':<40} {len(result['images']):8d}")
    print(f"{'largest chart (bytes)':<40} {max(result['images'], default=0):8d}")
    print(f"{'matplotlib loaded':<40} {result['matplotlib']!s:>8}")


if __name__ == "__main__":
    main()
