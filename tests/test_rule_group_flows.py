"""Every rule group is evaluated: a group named after a check flow by that flow, any other by
``threshold-alert-check`` unless ``rules.flows`` names another; the same group name in several
files is one group. Real rule files (the shipped ones beside a user's), the real CLI, and the
check flow on a real Prefect server (test harness) against a real Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.check import flow_groups
from alerter.rules import load_rules
from alerter.store import AlertStore
from flows.checks import threshold_alert_check
from stackwatch.catalog import evaluating_flow
from stackwatch.cli import main
from stackwatch.config import load_config
from tests.support.prometheus import PrometheusServer

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "rules"

# a user's file: two rules for a shipped group (one the same alert and labels as a shipped
# rule), a group of its own and one given to services-health-check
USER_RULES = """\
groups:
  - name: threshold-alert-check
    rules:
      - alert: BackupTooOld
        expr: vector(0) > 1
        labels: {severity: warning}
      - alert: HighCpuUsage
        expr: vector(0) > 2
        labels: {severity: warning}
  - name: databases
    rules:
      - alert: PostgresDown
        expr: vector(0) > 1
  - name: web
    rules:
      - alert: SiteSlow
        expr: vector(0) > 1
"""
DUPLICATE = USER_RULES[
    USER_RULES.index("      - alert: HighCpuUsage") : USER_RULES.index("  - name: databases")
]


def _files(tmp_path: Path, shipped: str = f"{SHIPPED}/*.yml") -> Path:
    user = tmp_path / "user.yml"
    user.write_text(USER_RULES)
    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"""
docker: {{enabled: false}}
rules:
  paths: ["{shipped}", "{user}"]
  flows: {{web: services-health-check, nowhere: k8s-health-check}}
"""
    )
    return config


def test_a_group_in_two_files_is_one_group_and_a_repeated_rule_is_reported(
    tmp_path: Path,
) -> None:
    config = load_config(_files(tmp_path))
    ruleset = load_rules(config.rules.paths)
    threshold = ruleset.group("threshold-alert-check")
    assert threshold is not None
    assert threshold.files == (
        str(SHIPPED / "threshold-alert-check.yml"),
        str(tmp_path / "user.yml"),
    )
    alerts = [r.alert for r in threshold.rules]
    assert alerts[-1] == "BackupTooOld"
    assert alerts.count("HighCpuUsage") == 1  # the shipped one
    [problem] = ruleset.problems
    shipped_cpu = next(r for r in threshold.rules if r.alert == "HighCpuUsage")
    assert str(problem) == (
        f"{tmp_path / 'user.yml'}:7: HighCpuUsage: duplicate alert name in group "
        f"'threshold-alert-check' (first in {shipped_cpu.file}:{shipped_cpu.line}); give one of "
        "them different labels or another name"
    )
    assert [g.name for g in ruleset.groups].count("threshold-alert-check") == 1

    # which flow evaluates which group
    assigned = config.rules.flows
    assert evaluating_flow("databases", assigned) == "threshold-alert-check"
    assert evaluating_flow("stackwatch-watchdog", assigned) == "none"  # for Prometheus only
    assert evaluating_flow("web", assigned) == "services-health-check"
    assert flow_groups(config, "threshold-alert-check") == ["threshold-alert-check", "databases"]
    assert flow_groups(config, "services-health-check") == ["services-health-check", "web"]
    assert flow_groups(config, "k8s-health-check") == ["k8s-health-check"]


def test_rules_check_and_flows_list_show_which_flow_evaluates_each_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _files(tmp_path)
    user = tmp_path / "user.yml"
    assert main(["rules", "check", "--config", str(config)]) == 1
    out = capsys.readouterr()
    [problem, note] = out.out.splitlines()
    assert problem.startswith(f"{user}:7: HighCpuUsage: duplicate alert name in group ")
    assert note == "note: rules.flows names group 'nowhere', which no rule file here defines"
    assert out.err.startswith("stackwatch: 1 problem(s) in 7 file(s), 8 group(s), 36 rule(s)")

    user.write_text(USER_RULES.replace(DUPLICATE, ""))
    assert main(["rules", "check", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["GROUP", "EVALUATED", "BY", "RULES", "FILES"]
    table = {line.split()[0]: line.split(None, 1)[1] for line in lines[1:9]}
    assert table["threshold-alert-check"].split() == [
        "threshold-alert-check",
        "13",
        f"{SHIPPED / 'threshold-alert-check.yml'},",
        str(user),
    ]
    assert table["databases"].split() == ["threshold-alert-check", "(default)", "1", str(user)]
    assert table["stackwatch-watchdog"].split()[:5] == [
        "none",
        "(for",
        "Prometheus)",
        "(default)",
        "2",
    ]
    assert table["web"].split() == ["services-health-check", "1", str(user)]
    assert lines[9:] == [note, "OK: 7 file(s), 8 group(s), 36 rule(s)"]

    assert main(["flows", "list", "--config", str(config)]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert listed["FLOW"].split()[:5] == ["FLOW", "SCHEDULE", "(UTC)", "RULE", "GROUPS"]
    assert "*/15 * * * *    threshold-alert-check, databases  " in (listed["threshold-alert-check"])
    assert " services-health-check, web " in listed["services-health-check"]
    assert listed["daily-summary-report"].split()[6] == "-"


def test_an_unknown_flow_in_rules_flows_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "stackwatch.yml"
    config.write_text("rules:\n  flows:\n    databases: database-check\n")
    assert main(["rules", "check", "--config", str(config)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"stackwatch: {config}:3: rules.flows.databases: unknown check flow 'database-check': "
        "expected one of system-health-check, services-health-check, threshold-alert-check, "
        "docker-restart-monitor, k8s-health-check, or 'none' for a group no flow evaluates"
    )


def test_the_watchdog_group_is_for_prometheus_unless_rules_flows_gives_it_a_flow(
    tmp_path: Path,
) -> None:
    """Its alerts repeat what ``stackwatch watchdog`` mails, and one of them is about the
    outbox that its own mail would wait in: no flow evaluates it, unless the user says so."""
    config = tmp_path / "stackwatch.yml"
    config.write_text(f'rules:\n  paths: ["{SHIPPED}/*.yml"]\n  flows: {{databases: none}}\n')
    default = load_config(config)
    assert default.rules.flows == {"stackwatch-watchdog": "none", "databases": "none"}
    assert "stackwatch-watchdog" not in flow_groups(default, "threshold-alert-check")
    assert "databases" not in flow_groups(default, "threshold-alert-check")

    config.write_text(
        f'rules:\n  paths: ["{SHIPPED}/*.yml"]\n'
        "  flows: {stackwatch-watchdog: threshold-alert-check}\n"
    )
    chosen = load_config(config)
    assert flow_groups(chosen, "threshold-alert-check") == [
        "threshold-alert-check",
        "stackwatch-watchdog",
    ]


@pytest.mark.integration
@pytest.mark.usefixtures("prefect_api", "own_flow_runs")
def test_the_threshold_check_evaluates_the_groups_named_after_no_flow(
    tmp_path: Path, prometheus: PrometheusServer
) -> None:
    user = tmp_path / "user.yml"
    # BackupTooOld fires; no repeated rule, which would blind the group
    user.write_text(USER_RULES.replace(DUPLICATE, "").replace("vector(0) > 1", "vector(1) > 0", 1))
    db = tmp_path / "stackwatch.db"
    config = tmp_path / "stackwatch.yml"
    config.write_text(
        f"""
docker: {{enabled: false}}
prometheus: {{url: "{prometheus.url}", retries: 0, timeout: 5s}}
smtp: {{outbox_dir: "{tmp_path / "outbox"}"}}
state: {{path: "{db}"}}
rules:
  paths: ["{SHIPPED / "threshold-alert-check.yml"}", "{user}"]
  flows: {{web: services-health-check}}
"""
    )
    state = threshold_alert_check(config_path=str(config), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["group"] == "threshold-alert-check"
    assert result["alerts"] == {"firing": 1}  # the user's rule in the shipped group
    assert [g["group"] for g in result["groups"]] == ["databases"]
    with AlertStore(db) as store:
        evaluated = {e.group for e in store.evaluations()}
    assert evaluated == {"threshold-alert-check", "databases"}  # web is not this flow's
