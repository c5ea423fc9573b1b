"""Debian's node_exporter started by a test, and metric families compared with stackwatch's."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.procs import free_port, require_binary, wait_for

NODE_EXPORTER = "prometheus-node-exporter"


@dataclass
class Family:
    """One metric family as exposed: its type, help, label names and samples."""

    name: str
    type: str
    help: str
    label_names: frozenset[str] = frozenset()
    samples: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)


def families(text: str) -> dict[str, Family]:
    """The families of a text exposition, by name (counters keep their ``_total`` name)."""
    out: dict[str, Family] = {}
    for metric in text_string_to_metric_families(text):
        samples = {
            tuple(sorted(sample.labels.items())): sample.value
            for sample in metric.samples
            if sample.name in (metric.name, f"{metric.name}_total") or metric.type == "summary"
        }
        names = frozenset(label for sample in metric.samples for label in sample.labels)
        name = f"{metric.name}_total" if metric.type == "counter" else metric.name
        out[name] = Family(name, metric.type, metric.documentation, names, samples)
    return out


@dataclass
class NodeExporter:
    """A running node_exporter with its default collectors."""

    url: str
    process: subprocess.Popen[bytes]

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            return str(response.read().decode())

    def families(self) -> dict[str, Family]:
        return families(self.scrape())


@contextmanager
def node_exporter(*args: str, log: Path | None = None) -> Iterator[NodeExporter]:
    """Debian's node_exporter on a free loopback port, stopped by its PID afterwards."""
    binary = require_binary(NODE_EXPORTER, "prometheus-node-exporter")
    port = free_port()
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", *args],
        stdout=out,
        stderr=out,
    )
    exporter = NodeExporter(f"http://127.0.0.1:{port}/metrics", process)
    try:
        wait_for(lambda: exporter.scrape(), 30, "node_exporter to answer")
        yield exporter
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not None and not isinstance(out, int):
            out.close()
