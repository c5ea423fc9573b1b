"""What the cgroups collector adds to a scrape with 100 running containers.

Run: ``.venv/bin/python bench/cgroups.py`` (``--containers``, ``--scrapes``, ``--real``).
Fake trees: the cgroup v2 and v1 fixtures of the tests (``tests/fixtures/cgroup/``) cloned
once per container under a temp root, each with its ``/proc/<pid>/cgroup`` and ``net/dev``,
so every scrape reads the files a real host has (v2: 10 per container, v1: 13, plus
``net/dev``). ``--real N`` also starts N sleeping containers on a real dockerd (as in the
tests) and reads their real cgroup files, where the kernel generates each file on read.
The container list comes from a fixed view, as the Docker collector's view serves it between
events: no Docker API call. "collect()" is the collector's own part; "scrape" adds the text
exposition of its series (the exporter's own renderer): what it adds to the exporter's answer.
"scrape CPU" is this process's CPU time during a scrape, which depends less on the machine's
load than wall time does (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import percentile  # noqa: E402

from exporter.collectors.cgroups import CgroupsCollector  # noqa: E402
from exporter.containers.model import Container, Inspected  # noqa: E402
from exporter.containers.view import ContainerView  # noqa: E402
from exporter.exposition import TextRenderer  # noqa: E402
from exporter.registry import build_registry  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "cgroup"
V2_ID = "3b5e7f0a9c1d2e4f6a8b0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f"
V1_ID = "f10b892de08be5a8e1279c58b74d2b1616c494dfe8d73225e490299a4d9a10a7"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids")


class FixedView(ContainerView):
    """The containers as the Docker collector's view holds them between events."""

    def __init__(self, containers: list[Container]) -> None:
        super().__init__(self._no_client, watch_events=False)
        self.fixed = containers

    @staticmethod
    def _no_client() -> object:
        raise AssertionError("no Docker API call here")

    def containers(self) -> list[Container]:
        return list(self.fixed)

    def current(self) -> list[Container]:
        return list(self.fixed)


def container(number: int, cid: str, pid: int) -> Container:
    labels = {"com.docker.compose.project": "bench", "com.docker.compose.service": f"s{number}"}
    inspected = Inspected("busybox:1", 0, None, "none", pid)
    return Container(cid, f"c{number}", "running", labels, inspected)


def fake_tree(root: Path, version: str, count: int) -> list[Container]:
    """``count`` containers cloned from the fixture of cgroup ``version`` under ``root``."""
    source = FIXTURES / version
    cgroup = root / "sys" / "fs" / "cgroup"
    cgroup.mkdir(parents=True)
    shutil.copytree(source / "sys" / "dev", root / "sys" / "dev", symlinks=True)
    if version == "v2":
        shutil.copy(source / "sys/fs/cgroup/cgroup.controllers", cgroup)
    containers = []
    for number in range(count):
        cid = f"{number:064x}"
        pid = 10000 + number
        proc = root / "proc" / str(pid)
        (proc / "net").mkdir(parents=True)
        if version == "v2":
            shutil.copytree(
                source / f"sys/fs/cgroup/system.slice/docker-{V2_ID}.scope",
                cgroup / f"system.slice/docker-{cid}.scope",
            )
            (proc / "cgroup").write_text(f"0::/system.slice/docker-{cid}.scope\n")
            shutil.copy(source / "proc/4242/net/dev", proc / "net" / "dev")
        else:
            for controller in V1_CONTROLLERS:
                shutil.copytree(
                    source / f"sys/fs/cgroup/{controller}/docker/{V1_ID}",
                    cgroup / controller / "docker" / cid,
                )
            text = (source / "proc/31797/cgroup").read_text().replace(V1_ID, cid)
            (proc / "cgroup").write_text(text)
            shutil.copy(source / "proc/31797/net/dev", proc / "net" / "dev")
        containers.append(container(number, cid, pid))
    return containers


def measure(root: Path, containers: list[Container], scrapes: int) -> tuple[str, ...]:
    collector = CgroupsCollector(root, FixedView(containers))
    registry = build_registry({"cgroups": collector})
    renderer = TextRenderer()  # what the exporter's /metrics renders with
    text = renderer.render_registry(registry).decode()  # the first scrape locates every cgroup
    series = sum(1 for line in text.splitlines() if line.startswith("container_"))
    collect, scrape, cpu = [], [], []
    for _ in range(scrapes):
        start = time.perf_counter()
        list(collector.collect())
        collect.append(time.perf_counter() - start)
        start, start_cpu = time.perf_counter(), time.process_time()
        renderer.render_registry(registry)
        scrape.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return (
        str(len(containers)),
        str(series),
        f"{statistics.median(collect) * 1000:.1f} ms",
        f"{statistics.median(scrape) * 1000:.1f} ms",
        f"{percentile(scrape, 0.95) * 1000:.1f} ms",
        f"{statistics.median(cpu) * 1000:.1f} ms",
    )


def real_containers(count: int) -> tuple[object, list[Container]]:
    from tests.support.dockerd import required_dockerd  # only with --real

    daemon = required_dockerd().start()
    containers = []
    for number in range(count):
        run = daemon.run(["sleep", "100000"], name=f"bench-{number}")
        run.reload()
        containers.append(container(number, run.id, int(run.attrs["State"]["Pid"])))
    return daemon, containers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--real", type=int, default=0, help="also N real containers")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="swcg-") as temp:
        for version in ("v2", "v1"):
            root = Path(temp) / version
            containers = fake_tree(root, version, args.containers)
            rows.append((f"fake cgroup {version}", *measure(root, containers, args.scrapes)))
    if args.real:
        daemon, containers = real_containers(args.real)
        try:
            host = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
            rows.append((f"real dockerd, {host}", *measure(Path("/"), containers, args.scrapes)))
        finally:
            daemon.stop()  # type: ignore[attr-defined]
    header = (
        "tree",
        "containers",
        "series",
        "collect() p50",
        "scrape p50",
        "scrape p95",
        "scrape CPU p50",
    )
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    load = os.getloadavg()[0]
    print(f"cgroups collector, {args.scrapes} scrapes each (load average {load:.2f})")
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
