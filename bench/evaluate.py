"""Evaluation speed: 200 alerting rules in one group against a real Prometheus, side by side
with Prometheus's own rule engine on the same rules.

Run: ``.venv/bin/python bench/evaluate.py [--rules N] [--runs N]``. Starts a /metrics endpoint
with 100 series and a real Prometheus holding 20 minutes of their history (backfilled with
promtool at a 15 s scrape) and scraping them every second, with N rules loaded as a rule file
(half instant queries, half ``for: 5m`` range queries, a fifth of them true). Times the queries
alone, whole ``run_check`` evaluations (queries, state database, mail composed into the outbox
folder) over the ``for`` window and over the 15 minutes since a previous evaluation, and reads
how long Prometheus's engine takes for the same group (``evaluationTime`` in
``/api/v1/rules``). Targets: ``run_check`` <= 0.5 s, and over 15 minutes at most twice the
evaluation over the ``for`` window.
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
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alerter.check import query_rules, run_check  # noqa: E402
from alerter.rules import load_rules  # noqa: E402
from alerter.store import AlertStore  # noqa: E402
from stackwatch.config import Config  # noqa: E402
from stackwatch.prometheus import PrometheusClient  # noqa: E402
from tests.support.http import PROMETHEUS_TEXT, LocalServer, fixed  # noqa: E402
from tests.support.prometheus import PrometheusServer  # noqa: E402

TARGET_SECONDS = 0.5
TARGET_SPAN_RATIO = 2.0  # a between-runs evaluation over SPAN vs one over the for window
SERIES = 100
SPAN = 15 * 60.0
HISTORY = 20 * 60  # seconds of backfilled history, at HISTORY_STEP
HISTORY_STEP = 15
ENGINE_INTERVAL = "5s"  # Prometheus evaluates the group this often: its cost is measured


BASE = int(time.time()) % 1000


def samples() -> list[tuple[str, str, float]]:
    """(metric family, series, value) of the endpoint."""
    out = []
    for i in range(SERIES):
        out.append(("bench_value", f'shard="{i}",kind="{i % 5}"', float(i)))
        out.append(("bench_counter_total", f'shard="{i}"', float(i * 1000 + BASE)))
    return out


def serve_metrics() -> LocalServer:
    lines = [f"{name}{{{labels}}} {value:g}" for name, labels, value in samples()]
    body = ("\n".join(lines) + "\n").encode()
    return LocalServer(fixed(200, body), content_type=PROMETHEUS_TEXT)


def backfill(workdir: Path, target: str, now: int) -> None:
    """HISTORY seconds of what the scrapes would have written, as TSDB blocks in the data
    folder before Prometheus starts (the endpoint's values, and ``up``)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise SystemExit("promtool not found: apt-get install prometheus")
    job = f'instance="{target}",job="stackwatch"'
    stamps = range(now - HISTORY, now - 5, HISTORY_STEP)
    lines = ["# TYPE up gauge", *(f"up{{{job}}} 1 {ts}" for ts in stamps)]
    for family in ("bench_value", "bench_counter_total"):
        kind = "counter" if family.endswith("_total") else "gauge"
        name = family.removesuffix("_total")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(
            f"{n}{{{job},{labels}}} {value:g} {ts}"
            for ts in stamps
            for n, labels, value in samples()
            if n == family
        )
    source = workdir / "history.om"
    source.write_text("\n".join([*lines, "# EOF", ""]))
    (workdir / "data").mkdir()
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(workdir / "data")],
        check=True,
        capture_output=True,
        timeout=120,
    )


def engine_seconds(url: str, runs: int) -> float:
    """The median ``evaluationTime`` of the bench group over ``runs`` of Prometheus's own
    evaluations of it."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 60 + runs * 10
    while len(seen) < runs and time.monotonic() < deadline:
        body = requests.get(f"{url}/api/v1/rules", timeout=10).json()
        for group in body["data"]["groups"]:
            if group["name"] == "bench" and group.get("lastEvaluation", "").startswith("2"):
                seen[group["lastEvaluation"]] = float(group["evaluationTime"])
        time.sleep(1)
    if not seen:
        raise SystemExit("Prometheus never evaluated the bench group")
    return statistics.median(seen.values())


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
    group = {"name": "bench", "interval": ENGINE_INTERVAL, "rules": rules}
    path.write_text(yaml.safe_dump({"groups": [group]}))


def time_checks(config: Config, ruleset: Any, runs: int, span: float | None) -> list[float]:
    """Wall seconds of ``runs`` evaluations; with ``span``, each covers that much time since
    the group's previous evaluation (as a check flow's run every ``span`` does)."""
    times = []
    for _ in range(runs):
        if span is not None:
            with AlertStore(config.state.path) as store:
                store.record_evaluation(
                    "bench", time.time() - span, success=True, covered_to=time.time() - span
                )
        start = time.perf_counter()
        result = run_check(config, "bench", rules=ruleset)
        times.append(time.perf_counter() - start)
        assert not result.errors, result.errors
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with serve_metrics() as metrics, tempfile.TemporaryDirectory(prefix="stackwatch-bench-") as tmp:
        target = metrics.url.removeprefix("http://")
        workdir = Path(tmp)
        (workdir / "prometheus").mkdir()
        rules_file = workdir / "bench.yml"
        write_rules(rules_file, args.rules)
        backfill(workdir / "prometheus", target, int(time.time()))
        prometheus = PrometheusServer(
            workdir / "prometheus", [target], rule_files=[str(rules_file)]
        ).start()
        try:
            prometheus.wait_for_series("bench_value")
            time.sleep(3)  # a few scrapes, so rate() has data
            base = {
                "prometheus": {"url": prometheus.url, "max_concurrency": 8},
                "smtp": {"outbox_dir": str(workdir / "outbox"), "to": "ops@example.org"},
                "rules": {"paths": [str(rules_file)]},
                "state": {"path": str(workdir / "state.db")},
            }
            config = Config.model_validate(base)
            own_window = Config.model_validate(
                {**base, "rules": {**base["rules"], "between_runs": {"enabled": False}}}
            )
            ruleset = load_rules(config.rules.paths)
            group = ruleset.group("bench")
            assert group is not None
            assert len(group.rules) == args.rules
            rows = []
            for label, concurrency in (
                ("queries, 1 at a time", 1),
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
            run_check(own_window, "bench", rules=ruleset)  # the first one mails the firing ones
            window_times = time_checks(own_window, ruleset, args.runs, None)
            span_times = time_checks(config, ruleset, args.runs, SPAN)
            result = run_check(own_window, "bench", rules=ruleset)
            rows.append(
                (
                    "run_check over the for window",
                    statistics.median(window_times),
                    max(window_times),
                )
            )
            rows.append(
                (
                    f"run_check over {SPAN / 60:.0f} min since the last",
                    statistics.median(span_times),
                    max(span_times),
                )
            )
            engine = engine_seconds(prometheus.url, args.runs)
            rows.append(("Prometheus's rule engine, same rules", engine, engine))
            firing = len(result.firing)
        finally:
            prometheus.stop()

    print(
        f"{args.rules} rules ({args.rules - args.rules // 2} range over for: 5m, "
        f"{args.rules // 2} instant), {firing} alerts firing, {args.runs} runs, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n"
    )
    print(f"| {'what':<38} | {'wall s (median)':>15} | {'max s':>6} | {'x engine':>8} |")
    print(f"|{'-' * 40}|{'-' * 17}|{'-' * 8}|{'-' * 10}|")
    for label, median, worst in rows:
        print(f"| {label:<38} | {median:>15.3f} | {worst:>6.3f} | {median / engine:>8.1f} |")
    check = rows[-3][1]
    ratio = rows[-2][1] / check
    met = check <= TARGET_SECONDS
    span_met = ratio <= TARGET_SPAN_RATIO
    print(f"\ntarget: run_check <= {TARGET_SECONDS:.1f} s: {'met' if met else 'MISSED'}")
    print(
        f"target: over {SPAN / 60:.0f} min <= {TARGET_SPAN_RATIO:.0f}x over the for window: "
        f"{ratio:.2f}x, {'met' if span_met else 'MISSED'}"
    )
    return 0 if met and span_met else 1


if __name__ == "__main__":
    sys.exit(main())
