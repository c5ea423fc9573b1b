"""The shared PromQL: the rule files, the report and the system-health check say the same thing.

The rule files cannot import ``stackwatch.promql``, so these tests hold them to it: the same
pseudo-filesystem matcher everywhere, the same CPU/RAM/disk expressions and thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stackwatch import promql
from stackwatch.config import Config
from stackwatch.prometheus import PrometheusClient
from tests.support.http import PROMETHEUS_TEXT, LocalServer
from tests.support.prometheus import PrometheusServer

RULES = Path(__file__).resolve().parent.parent / "rules"
FSTYPE_EXCLUDED = re.compile(r'fstype!~"([^"]*)"')


def rule_exprs() -> dict[str, str]:
    exprs = {}
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                exprs[f"{path.name}:{rule.get('alert') or rule.get('record')}"] = rule["expr"]
    return exprs


def normal(expr: str) -> str:
    """Whitespace does not change PromQL's meaning."""
    return re.sub(r"\s+", "", expr)


def test_every_filesystem_filter_in_the_rules_starts_with_the_shared_pseudo_types() -> None:
    shared = "|".join(promql.PSEUDO_FS_TYPES)
    found = {
        name: FSTYPE_EXCLUDED.findall(expr)
        for name, expr in rule_exprs().items()
        if "fstype!~" in expr
    }
    assert found, "no rule filters filesystems: the test would hold nothing"
    for name, matchers in found.items():
        assert matchers, f"{name}: an fstype!~ matcher this test cannot read"
        for types in matchers:
            assert types == shared or types.startswith(shared + "|"), (name, types)


@pytest.mark.parametrize(
    ("alert", "expr", "threshold"),
    [
        ("HighCpuUsage", promql.cpu_used(), promql.CPU_WARN),
        ("HighMemoryUsage", promql.ram_used(), promql.RAM_WARN),
        ("DiskAlmostFull", promql.disk_used(), promql.DISK_WARN),
    ],
)
def test_threshold_rules_use_the_shared_expressions_and_thresholds(
    alert: str, expr: str, threshold: float
) -> None:
    rule = rule_exprs()[f"threshold-alert-check.yml:{alert}"]
    left, _, right = rule.rpartition(">")
    assert normal(left) == normal(expr)
    assert float(right) == threshold


def test_the_system_readings_use_the_shared_expressions() -> None:
    from flows.checks import SYSTEM_READINGS

    exprs = {reading.name: reading.expr for reading in SYSTEM_READINGS}
    assert exprs["CPU used"] == promql.cpu_used(by="")
    assert exprs["RAM used"] == promql.ram_used()
    assert exprs["Disk used"] == promql.disk_used()
    assert promql.PSEUDO_FS in exprs["Disk used"]


FILESYSTEMS = """\
node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 100
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 25
node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 100
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 90
node_filesystem_size_bytes{device="overlay",fstype="overlay",mountpoint="/var/lib/docker/m"} 100
node_filesystem_avail_bytes{device="overlay",fstype="overlay",mountpoint="/var/lib/docker/m"} 1
"""


@pytest.mark.integration
def test_disk_used_reading_leaves_out_pseudo_filesystems(
    start_prometheus: Callable[..., PrometheusServer],
) -> None:
    """A real Prometheus scrapes an ext4, a tmpfs and an overlay filesystem: the system-health
    check's "Disk used" reports the ext4 one only."""
    from flows.checks import SYSTEM_READINGS, read_readings

    [disk] = [reading for reading in SYSTEM_READINGS if reading.name == "Disk used"]
    payload = FILESYSTEMS.encode()
    with LocalServer(lambda request: (200, payload), content_type=PROMETHEUS_TEXT) as endpoint:
        prometheus = start_prometheus([endpoint.url.removeprefix("http://")])
        prometheus.wait_for_series('node_filesystem_avail_bytes{fstype="overlay"}')
        config = Config.model_validate({"prometheus": {"url": prometheus.url}})
        with PrometheusClient(config.prometheus) as client:
            values = read_readings(client, (disk,))

    assert [(v.series, v.value) for v in values] == [("/", 0.75)]
    assert values[0].formatted() == "75.0 %"
