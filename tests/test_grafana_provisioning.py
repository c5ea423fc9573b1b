"""Grafana provisioning: compose mounts the repo's provisioning, dashboards and datasource."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.compose import REPO, env_of, mounts_of


def test_grafana_is_provisioned_from_the_repo(resolved_compose: dict[str, Any]) -> None:
    grafana = resolved_compose["services"]["grafana"]
    mounts = mounts_of(grafana)
    assert mounts["/etc/grafana/provisioning"] == (str(REPO / "grafana/provisioning"), "ro")
    providers = yaml.safe_load(
        (REPO / "grafana/provisioning/dashboards/stackwatch.yml").read_text()
    )["providers"]
    [provider] = providers
    dashboards_dir = provider["options"]["path"]
    assert mounts[dashboards_dir] == (str(REPO / "grafana/dashboards"), "ro")
    home = env_of(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/stackwatch.json"
    [datasource] = yaml.safe_load(
        (REPO / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert env_of(grafana)["GF_SECURITY_ADMIN_PASSWORD"]  # from .env, required
