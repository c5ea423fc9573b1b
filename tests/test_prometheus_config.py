"""prometheus.yml: promtool accepts it with the rules, its scrape jobs, and `make run`'s rewrite."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import yaml

from flows.launcher import local_prometheus_config
from tests.support.procs import require_binary

REPO = Path(__file__).resolve().parent.parent


def test_promtool_accepts_prometheus_yml_with_the_rules(tmp_path: Path) -> None:
    promtool = require_binary("promtool", "prometheus")
    shutil.copy(REPO / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(REPO / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = sorted(p.name for p in (REPO / "rules").glob("*.yml"))
    assert rule_files, "no rule files in rules/"
    assert f"SUCCESS: {len(rule_files)} rule files found" in result.stdout


def test_prometheus_yml_scrapes_the_exporter_and_itself_every_15s() -> None:
    config = yaml.safe_load((REPO / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["external_labels"] == {"host": "${STACKWATCH_HOST}"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"stackwatch", "prometheus"}
    assert jobs["stackwatch"]["static_configs"] == [{"targets": ["exporter:9810"]}]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]


def test_make_run_rewrites_the_targets_to_local_processes(tmp_path: Path) -> None:
    config = local_prometheus_config(
        REPO / "prometheus.yml", "127.0.0.1:9810", "127.0.0.1:9090", tmp_path / "rules"
    )
    targets = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert targets == {
        "stackwatch": [{"targets": ["127.0.0.1:9810"]}],
        "prometheus": [{"targets": ["127.0.0.1:9090"]}],
    }
    # the compose file's ${STACKWATCH_HOST} is not expanded locally: the host's name is used
    assert config["global"]["external_labels"] == {"host": socket.gethostname()}
