"""Evaluation speed: 200 alerting rules in one group against a real Prometheus (target <= 1 s).

Run: ``.venv/bin/python bench/evaluate.py [--rules N] [--runs N]``. Starts a /metrics endpoint
with 100 series, a real Prometheus scraping it every second, writes N rules (half instant
queries, half ``for: 5m`` range queries, a fifth of them true), then times the queries alone
(one at a time, then concurrently over one session) and whole ``run_check`` evaluations
(queries, state database, mail composed into the outbox folder).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alerter.check import query_rules, run_check  # noqa: E402
from alerter.rules import load_rules  # noqa: E402
from stackwatch.config import Config  # noqa: E402
from stackwatch.prometheus import PrometheusClient  # noqa: E402
from tests.support.http import PROMETHEUS_TEXT, LocalServer, fixed  # noqa: E402
from tests.support.prometheus import PrometheusServer  # noqa: E402

TARGET_SECONDS = 1.0
SERIES = 100


def serve_metrics() -> LocalServer:
    lines = []
    for i in range(SERIES):
        lines.append(f'bench_value{{shard="{i}",kind="{i % 5}"}} {i}')
        lines.append(f'bench_counter_total{{shard="{i}"}} {i * 1000 + time.time() % 1000:.0f}')
    body = ("\n".join(lines) + "\n").encode()
    return LocalServer(fixed(200, body), content_type=PROMETHEUS_TEXT)


def write_rules(path: Path, count: int) -> None:
    rules = []
    for i in range(count):
        firing = i % 10 in (0, 1)
        threshold = -1 if firing else 10_000
        if i % 2:
            expr = f'max by (kind) (bench_value{{kind="{i % 5}"}}) > {threshold}'
            rule: dict[str, Any] = {"alert": f"BenchInstant{i}", "expr": expr}
        else:
            shard = i % SERIES
            expr = f'rate(bench_counter_total{{shard="{shard}"}}[1m]) + {i} > {threshold}'
            rule = {"alert": f"BenchRange{i}", "expr": expr, "for": "5m"}
        rule["labels"] = {"severity": "warning"}
        rule["annotations"] = {"summary": "{{ $labels.shard }} at {{ $value | humanize }}"}
        rules.append(rule)
    path.write_text(yaml.safe_dump({"groups": [{"name": "bench", "rules": rules}]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with serve_metrics() as metrics, tempfile.TemporaryDirectory(prefix="stackwatch-bench-") as tmp:
        target = metrics.url.removeprefix("http://")
        workdir = Path(tmp)
        (workdir / "prometheus").mkdir()
        prometheus = PrometheusServer(workdir / "prometheus", [target]).start()
        try:
            prometheus.wait_for_series("bench_value")
            time.sleep(3)  # a few scrapes, so rate() has data
            rules_file = workdir / "bench.yml"
            write_rules(rules_file, args.rules)
            config = Config.model_validate(
                {
                    "prometheus": {"url": prometheus.url, "max_concurrency": 8},
                    "smtp": {"outbox_dir": str(workdir / "outbox"), "to": "ops@example.org"},
                    "rules": {"paths": [str(rules_file)]},
                    "state": {"path": str(workdir / "state.db")},
                }
            )
            ruleset = load_rules(config.rules.paths)
            group = ruleset.group("bench")
            assert group is not None
            assert len(group.rules) == args.rules
            rows = []
            for label, concurrency in (
                ("queries, 1 at a time", 1),
                ("queries, 2 concurrent", 2),
                ("queries, 4 concurrent", 4),
                ("queries, 8 concurrent", 8),
            ):
                times = []
                with PrometheusClient(config.prometheus) as client:
                    for _ in range(args.runs):
                        start = time.perf_counter()
                        results = query_rules(client, group.rules, time.time(), concurrency)
                        times.append(time.perf_counter() - start)
                        assert all(r.error is None for r in results)
                rows.append((label, statistics.median(times), max(times)))
            run_times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                result = run_check(config, "bench", rules=ruleset)
                run_times.append(time.perf_counter() - start)
                assert not result.errors, result.errors
            rows.append(
                ("run_check (queries + state + mail)", statistics.median(run_times), max(run_times))
            )
            firing = len(result.firing)
        finally:
            prometheus.stop()

    queries = args.rules + 1  # the rules plus the up{job} check
    print(
        f"{args.rules} rules ({args.rules - args.rules // 2} range over for: 5m, "
        f"{args.rules // 2} instant), {firing} alerts firing, {args.runs} runs\n"
    )
    print(f"| {'what':<36} | {'wall s (median)':>15} | {'max s':>6} | {'queries/s':>9} |")
    print(f"|{'-' * 38}|{'-' * 17}|{'-' * 8}|{'-' * 11}|")
    for label, median, worst in rows:
        print(f"| {label:<36} | {median:>15.3f} | {worst:>6.3f} | {queries / median:>9.0f} |")
    verdict = rows[-1][1] <= TARGET_SECONDS
    print(f"\ntarget: run_check <= {TARGET_SECONDS:.1f} s: {'met' if verdict else 'MISSED'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
