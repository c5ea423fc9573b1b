"""A real VictoriaMetrics single node (Debian's ``victoria-metrics``) started by a test.

It listens on a free loopback port with a data folder of its own, takes Prometheus's remote
write at ``/api/v1/write`` and answers the Prometheus query API at its root; it is stopped by
its PID. New samples are visible to queries at once (``-search.latencyOffset=0s``, where the
default hides the last 30 s), and the rollup cache is off, so a test reads what was written.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.procs import free_port, require_binary, wait_for
from tests.support.timing import within


@dataclass
class VictoriaMetrics:
    """A running VictoriaMetrics: its base URL (the Prometheus-compatible API) and process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def write_url(self) -> str:
        """Where Prometheus's ``remote_write`` sends samples."""
        return f"{self.url}/api/v1/write"

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"VictoriaMetrics exited: {self.log_path.read_text()[-2000:]}")
        return requests.get(f"{self.url}/health", timeout=2).status_code == 200


@contextmanager
def victoria_metrics(workdir: Path) -> Iterator[VictoriaMetrics]:
    """VictoriaMetrics on a free loopback port, its data under ``workdir``; stopped by PID."""
    binary = require_binary("victoria-metrics", "victoria-metrics")
    port = free_port()
    log_path = workdir / "victoria-metrics.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"-storageDataPath={workdir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{port}",
                "-retentionPeriod=1d",
                "-search.latencyOffset=0s",
                "-search.disableCache",
                "-loggerLevel=WARN",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = VictoriaMetrics(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_for(server._ready, within(30), f"VictoriaMetrics on {server.url} (log: {log_path})")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
