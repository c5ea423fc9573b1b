"""The speed and memory lines of exporter parity, measured side by side in one run.

Run: ``.venv/bin/python bench/parity.py`` (``--rounds``, ``--per-round``, ``--containers``,
``--no-rss``). Three lines, one table:

1. The full host scrape (every host collector, textfile included) against Debian's
   node_exporter with its default collectors (started as ``tests/support/node_exporter.py``
   starts it, both given the same textfile directory), on loopback, interleaved: each round
   scrapes both, in alternating order, so background load hits both alike. Wall time per
   scrape and the server process's CPU time per scrape (steadier on a loaded machine).
2. The cgroups collector on 100 fake containers (``bench/cgroups.py``'s trees): its collect()
   plus the text exposition of its series, wall and CPU.
3. The VmRSS of a real ``stackwatch exporter`` with every collector on (host, services,
   docker + cgroups on a dockerd of its own with running containers, kubernetes against the
   tests' local API server, outbox) after warm-up scrapes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import cgroups as cgroups_bench  # noqa: E402
from benchlib import rss_mb, wait_up  # noqa: E402

from tests.support.http import LocalServer, fixed  # noqa: E402
from tests.support.procs import free_port  # noqa: E402

TEXTFILE = "# HELP bench_job_last_success_seconds Last success of the bench job.\n"
TEXTFILE += "# TYPE bench_job_last_success_seconds gauge\nbench_job_last_success_seconds 1.7e9\n"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@contextmanager
def started(
    argv: list[str], url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, up when yielded, stopped by its PID afterwards."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_up(url, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stackwatch_argv(config: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stackwatch",
        "--log-level",
        "WARNING",
        "exporter",
        "--config",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
    ]


def series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


class Target:
    """One exporter being scraped: its wall and CPU seconds per scrape."""

    def __init__(self, name: str, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.name, self.url = name, url
        self.process = psutil.Process(proc.pid)
        self.session = requests.Session()
        self.wall: list[float] = []
        self.cpu: list[float] = []  # per scrape, averaged over each round's block
        self.series = series(self.session.get(url, timeout=30).text)

    def block(self, count: int) -> None:
        before = cpu_seconds(self.process)
        for _ in range(count):
            start = time.perf_counter()
            self.session.get(self.url, timeout=30).raise_for_status()
            self.wall.append(time.perf_counter() - start)
        self.cpu.append((cpu_seconds(self.process) - before) / count)


def bench_host(workdir: Path, rounds: int, per_round: int) -> list[list[str]]:
    node_exporter = shutil.which("prometheus-node-exporter")
    if node_exporter is None:
        raise SystemExit("prometheus-node-exporter not found: run `make system-deps-test`")
    textfiles = workdir / "textfile"
    textfiles.mkdir()
    (textfiles / "bench.prom").write_text(TEXTFILE)
    config = workdir / "host.yml"
    config.write_text(
        "exporter:\n  collectors: {host: true, services: false, docker: false, cgroups: false}\n"
        f"  textfile_directory: {textfiles}\n"
        "docker: {enabled: false}\n"
    )
    ours_port, theirs_port = free_port(), free_port()
    ours_url = f"http://127.0.0.1:{ours_port}/metrics"
    theirs_url = f"http://127.0.0.1:{theirs_port}/metrics"
    theirs_argv = [
        node_exporter,
        f"--web.listen-address=127.0.0.1:{theirs_port}",
        f"--collector.textfile.directory={textfiles}",
    ]
    with (
        started(stackwatch_argv(config, ours_port), ours_url) as ours,
        started(theirs_argv, theirs_url) as theirs,
    ):
        targets = [
            Target("stackwatch host", ours_url, ours),
            Target("node_exporter defaults", theirs_url, theirs),
        ]
        for target in targets:  # warm-up, not counted
            target.block(per_round)
            target.wall.clear()
            target.cpu.clear()
        for number in range(rounds):
            for target in targets if number % 2 == 0 else reversed(targets):
                target.block(per_round)
    rows = []
    for target in targets:
        wall = statistics.median(target.wall)
        cpu = statistics.median(target.cpu)
        rows.append([target.name, str(target.series), ms(wall), ms(cpu)])
    ours_t, theirs_t = targets
    wall_ratio = statistics.median(ours_t.wall) / statistics.median(theirs_t.wall)
    cpu_ratio = statistics.median(ours_t.cpu) / statistics.median(theirs_t.cpu)
    rows.append(["ratio stackwatch / node_exporter", "", f"{wall_ratio:.2f}x", f"{cpu_ratio:.2f}x"])
    return rows


def bench_cgroups(workdir: Path, containers: int, scrapes: int) -> list[list[str]]:
    rows = []
    for version in ("v2", "v1"):
        root = workdir / f"cgroup-{version}"
        fake = cgroups_bench.fake_tree(root, version, containers)
        _, count, _, scrape_p50, _, cpu_p50 = cgroups_bench.measure(root, fake, scrapes)
        what = f"cgroups, {containers} fake {version} containers"
        rows.append([what, count, scrape_p50, cpu_p50])
    return rows


def bench_rss(workdir: Path, containers: int, warmups: int) -> tuple[list[list[str]], list[str]]:
    from tests.support.dockerd import DockerDaemon
    from tests.test_kubernetes_collector import FakeApiServer, write_kubeconfig

    with ExitStack() as stack:
        daemon = stack.enter_context(DockerDaemon())
        for number in range(containers):
            daemon.run(["sleep", "100000"], name=f"rss-{number}")
        api = stack.enter_context(FakeApiServer())
        kubeconfig = write_kubeconfig(workdir, api.url)
        service = LocalServer(fixed(200)).start()
        stack.callback(service.close)
        config = workdir / "all.yml"
        config.write_text(
            "exporter:\n  probe_interval: 5s\n"
            "  collectors: {host: true, services: true, docker: true, cgroups: true, "
            "kubernetes: true, outbox: true}\n"
            f"  textfile_directory: {workdir / 'textfile'}\n"
            f"docker: {{host: '{daemon.host}', timeout: 30s}}\n"
            f"kubernetes: {{enabled: true, kubeconfig: '{kubeconfig}', refresh_interval: 5s}}\n"
            f"state: {{path: '{workdir / 'state.db'}'}}\n"
            f"services:\n  - {{name: svc, url: '{service.url}/health'}}\n"
        )
        rows, failed = [], []
        for arenas in (None, "2"):
            row, bad = rss_of(config, warmups, arenas)
            what = f"exporter RSS, every collector on ({containers} running containers)"
            if arenas is not None:
                what += f", MALLOC_ARENA_MAX={arenas}"
            rows.append([what, *row])
            failed += bad
    return rows, failed


def rss_of(config: Path, warmups: int, arenas: str | None) -> tuple[list[str], list[str]]:
    """One exporter's VmRSS once every collector has answered, after ``warmups`` scrapes."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    env = None if arenas is None else {**os.environ, "MALLOC_ARENA_MAX": arenas}
    with started(stackwatch_argv(config, port), url, env) as proc:
        session = requests.Session()
        deadline = time.monotonic() + 60
        failed = ["(none answered)"]
        while failed and time.monotonic() < deadline:
            # the background refreshes (services, kubernetes, outbox) answer after a while
            failed = failing(session.get(url, timeout=60).text)
            time.sleep(0.2)
        text = ""
        for _ in range(warmups):
            text = session.get(url, timeout=60).text
        rss = rss_mb(proc.pid)
    return [str(series(text)), f"{rss:.1f} MB", ""], failing(text)


def failing(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith("stackwatch_scrape_collector_success") and not line.endswith(" 1.0")
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--per-round", type=int, default=20, help="scrapes per exporter a round")
    parser.add_argument("--containers", type=int, default=100, help="fake cgroup containers")
    parser.add_argument("--rss-containers", type=int, default=10, help="real running containers")
    parser.add_argument("--no-rss", action="store_true", help="skip the dockerd RSS line")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="swpar-") as temp:
        workdir = Path(temp)
        rows += bench_host(workdir, args.rounds, args.per_round)
        rows += bench_cgroups(workdir, args.containers, args.rounds * args.per_round // 4)
        if not args.no_rss and shutil.which("dockerd") is not None:
            rss_rows, failed = bench_rss(workdir, args.rss_containers, 10)
            rows += rss_rows
            notes += [f"failed collector: {line}" for line in failed]
        else:
            notes.append("RSS line skipped (--no-rss or no dockerd)")
    load_after = os.getloadavg()
    header = ["what", "series", "wall p50 / value", "CPU per scrape p50"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(
        f"\n{os.cpu_count()} CPUs; load average (1, 5, 15 min) before "
        f"{' '.join(f'{v:.2f}' for v in load_before)}, after "
        f"{' '.join(f'{v:.2f}' for v in load_after)}; host: {args.rounds} interleaved rounds "
        f"of {args.per_round} scrapes each"
    )
    for row in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for note in notes:
        print(note)
    print("targets: host ratio <= 1.0x (bar 1.5x); cgroups <= 20 ms; RSS <= 60 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
