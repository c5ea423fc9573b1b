"""Wall time of each check flow on a warm Prefect server (target: <= 5 s per run).

Run: ``.venv/bin/python bench/flows.py [--runs N]``. Starts the real exporter (host and services
collectors), a real Prometheus scraping it every second, an SMTP server and a Prefect test
server (or uses the one at $PREFECT_API_URL when set), then runs each check flow once to warm
up and ``--runs`` times more, in this process, against the shipped rules in ``rules/``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from exporter.server import Exporter  # noqa: E402
from stackwatch.config import parse_config  # noqa: E402
from tests.support.procs import free_port  # noqa: E402
from tests.support.prometheus import PrometheusServer  # noqa: E402
from tests.support.smtp import SmtpServer  # noqa: E402

TARGET_SECONDS = 5.0


@contextlib.contextmanager
def prefect_server() -> Iterator[str]:
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per flow (default 5)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stackwatch-bench-flows-"))
    dead = f"http://127.0.0.1:{free_port()}/health"
    exporter_config = parse_config(
        f"""
docker: {{enabled: false}}
exporter: {{collectors: {{host: true, services: true}}, probe_interval: 1s}}
services: [{{name: billing-api, url: "{dead}", timeout: 1s}}]
""",
        "bench.yml",
    )
    exporter = Exporter.from_config(exporter_config)
    _, port = exporter.serve("127.0.0.1:0")
    prometheus = PrometheusServer(workdir, [f"127.0.0.1:{port}"])
    smtp = SmtpServer().start()
    try:
        prometheus.start()
        prometheus.wait_for_series('rate(node_cpu_seconds_total{mode="idle"}[5m])')
        config = workdir / "stackwatch.yml"
        config.write_text(
            f"""
docker: {{enabled: false}}
services: [{{name: billing-api, url: "{dead}", timeout: 1s}}]
prometheus: {{url: "{prometheus.url}"}}
smtp: {{host: 127.0.0.1, port: {smtp.port}, tls: none, to: [ops@example.org]}}
state: {{path: "{workdir / "stackwatch.db"}"}}
rules: {{paths: ["{REPO / "rules" / "*.yml"}"]}}
"""
        )
        with prefect_server() as api:
            from flows.serve import load_flow
            from stackwatch.catalog import FLOWS

            checks = [spec for spec in FLOWS if spec.name.endswith(("-check", "-monitor"))]
            print(f"Prefect API {api}; Prometheus {prometheus.url}; {args.runs} timed runs\n")
            rows = []
            for spec in checks:
                flow = load_flow(spec)
                flow(config_path=str(config), return_state=True)  # warm-up
                times = []
                state = None
                for _ in range(args.runs):
                    start = time.perf_counter()
                    state = flow(config_path=str(config), return_state=True)
                    times.append(time.perf_counter() - start)
                rows.append((spec.name, statistics.median(times), max(times), state))
    finally:
        prometheus.stop()
        smtp.stop()
        exporter.close()

    print(f"| flow | median (s) | max (s) | final state | <= {TARGET_SECONDS:g} s |")
    print("|---|---:|---:|---|---|")
    slow = False
    for name, median, worst, state in rows:
        ok = worst <= TARGET_SECONDS
        slow = slow or not ok
        print(f"| {name} | {median:.2f} | {worst:.2f} | {state.name} | {'yes' if ok else 'NO'} |")
    print(f"\nmails delivered during the run: {len(smtp.messages)}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
