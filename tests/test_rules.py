"""Rule files: the shipped ones pass promtool's checks and unit tests; broken ones are reported
as ``file:line: rule: message``, exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alerter.rules import load_rules
from stackwatch.cli import main
from tests.support.procs import require_binary

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
FIXTURES = Path(__file__).parent / "fixtures" / "rules"

SHIPPED_GROUPS = {
    "threshold-alert-check": {
        "HighCpuUsage",
        "HighMemoryUsage",
        "DiskAlmostFull",
        "FilesystemReadOnly",
        "NetworkInterfaceErrors",
        "DiskIoSaturated",
        "FilesystemFillingUp",
        "ClockNotSynchronised",
        "ClockSkew",
        "FileDescriptorsNearLimit",
        "OomKill",
        "MemoryPressureStall",
    },
    "docker-restart-monitor": {"ContainerRestarting", "ContainerUnhealthy"},
    # named after no flow, and for Prometheus only: no flow evaluates it
    "stackwatch-watchdog": {"StackwatchChecksStale", "StackwatchOutboxStuck"},
    "k8s-health-check": {
        "KubeNodeNotReady",
        "KubePodCrashLooping",
        "KubePodImagePullBackOff",
        "KubePodStuckPending",
        "KubePodFailed",
        "KubeDeploymentReplicasMismatch",
        "KubeJobFailed",
        "KubeStatefulSetNotRolledOut",
        "KubeDaemonSetNotRolledOut",
        "KubePersistentVolumeClaimPending",
        "KubeHpaMaxedOut",
        "KubernetesListFailing",
    },
    "services-health-check": {"ServiceDown", "TlsCertificateExpiringSoon"},
    "system-health-check": {
        "StackwatchExporterDown",
        "StackwatchExporterMissing",
        "StackwatchCollectorFailing",
    },
}

PROMQL_NEEDS_PROMTOOL = {"invalid-promql.yml"}

EXPECTED = {
    "invalid-yaml.yml": [
        "invalid-yaml.yml:7: invalid YAML: expected ',' or '}', but got '<stream end>' "
        "(while parsing a flow mapping on line 6)",
    ],
    "invalid-promql.yml": [
        "invalid-promql.yml:7: Unclosed: invalid PromQL: parse error: unclosed left parenthesis",
        "invalid-promql.yml:12: MultiLine: invalid PromQL: parse error: unexpected <op:>>",
    ],
    "invalid-duration.yml": [
        "invalid-duration.yml:6: Typo: for: invalid duration '5 minutes': "
        "use a duration like 30s, 5m or 1h",
        "invalid-duration.yml:9: Bare: keep_firing_for: invalid duration '10': "
        "use a duration like 30s, 5m or 1h",
    ],
    "invalid-unknown-key.yml": [
        "invalid-unknown-key.yml:4: group 'unknown-keys': unknown key 'owner'",
        "invalid-unknown-key.yml:8: HighCpuUsage: unknown key 'severity'",
        "invalid-unknown-key.yml:9: HighCpuUsage: unknown key 'annotation'",
    ],
    "invalid-template.yml": [
        "invalid-template.yml:7: Unclosed: annotation 'summary': template: "
        "unclosed {{ if }}: missing {{ end }}",
        "invalid-template.yml:13: UnknownFunction: annotation 'description': template: "
        "unknown function 'humanise'",
    ],
    "invalid-duplicate.yml": [
        "invalid-duplicate.yml:6: Same: duplicate alert name in group 'dupes' (first on line 4); "
        "give one of them different labels or another name",
        "invalid-duplicate.yml:12: duplicate group name 'dupes' (first in invalid-duplicate.yml:2)",
    ],
    "invalid-recording.yml": [
        "invalid-recording.yml:4: instance:cpu:ratio: recording rules are not supported: "
        "stackwatch evaluates alerting rules only; keep recording rules in Prometheus",
    ],
    # a value that starts on the line after its key is reported on its own line
    "invalid-structure.yml": [
        "invalid-structure.yml:2: group has no name",
        "invalid-structure.yml:6: invalid label name '1team'",
        "invalid-structure.yml:8: group 'structure': a rule must be a mapping",
        "invalid-structure.yml:9: group 'structure': rule has no 'alert' name",
        "invalid-structure.yml:11: NoExpr: missing or empty 'expr'",
        "invalid-structure.yml:15: BlockValues: for: must be a duration like 30s, 5m or 1h, "
        "found a mapping",
        "invalid-structure.yml:17: BlockValues: rule 'BlockValues': labels must be a mapping",
        "invalid-structure.yml:20: BlockValues: annotation 'summary' must be a string",
        "invalid-structure.yml:23: group 'rules-as-mapping': 'rules' must be a list",
    ],
    # one line: listed as a reader meets them, unknown keys first
    "invalid-flow.yml": [
        "invalid-flow.yml:2: group 'flow': unknown key 'owner'",
        "invalid-flow.yml:2: OneLine: unknown key 'team'",
        "invalid-flow.yml:2: OneLine: for: invalid duration 'soon': "
        "use a duration like 30s, 5m or 1h",
        "invalid-flow.yml:2: OneLine: invalid label name '1x'",
        "invalid-flow.yml:2: OneLine: label 'ok': template: {{ end }} without a block to close",
    ],
    "invalid-root.yml": [
        "invalid-root.yml:1: unknown key 'version': expected 'groups'",
        "invalid-root.yml:3: 'groups' must be a list, found a mapping",
    ],
}


def test_shipped_rules_define_the_check_groups() -> None:
    ruleset = load_rules([str(RULES / "*.yml")], check_promql=True)
    assert ruleset.problems == ()
    assert {g.name: {r.alert for r in g.rules} for g in ruleset.groups} == SHIPPED_GROUPS
    for group in ruleset.groups:
        for rule in group.rules:
            assert rule.labels.get("severity") in ("warning", "critical"), rule.alert
            assert rule.annotations.get("summary"), rule.alert


def test_promtool_check_rules_passes_on_shipped_files() -> None:
    promtool = require_binary("promtool", "prometheus")
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    assert len(files) == len(SHIPPED_GROUPS)
    result = subprocess.run(
        [promtool, "check", "rules", *files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass_for_every_group() -> None:
    promtool = require_binary("promtool", "prometheus")
    tests = sorted(RULES.glob("tests/*_test.yml"))
    assert {t.name.removesuffix("_test.yml") for t in tests} == set(SHIPPED_GROUPS)
    result = subprocess.run(
        [promtool, "test", "rules", *map(str, tests)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=RULES / "tests",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(SHIPPED_GROUPS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_rule_file_messages(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if name in PROMQL_NEEDS_PROMTOOL:
        require_binary("promtool", "prometheus")
    monkeypatch.chdir(FIXTURES)
    ruleset = load_rules([name], check_promql=True)
    assert [str(p) for p in ruleset.problems] == EXPECTED[name]


def test_broken_rules_do_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    ruleset = load_rules(["invalid-*.yml", "alerting.yml"], check_promql=True)
    groups = {g.name: [r.alert for r in g.rules] for g in ruleset.groups}
    assert groups["threshold-test"] == ["HighCpuUsage"]
    assert groups["bad-promql"] == ["Fine"]
    assert groups["recording"] == ["Kept"]
    assert groups["dupes"] == ["Same", "Same"]  # different labels: both kept
    assert groups["structure"] == groups["rules-as-mapping"] == groups["flow"] == []
    assert "broken" not in groups


def test_rules_check_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(FIXTURES)
    assert main(["rules", "check", "invalid-duration.yml", "alerting.yml"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == EXPECTED["invalid-duration.yml"]
    assert captured.err.startswith("stackwatch: 2 problem(s) in 2 file(s), 6 group(s), 5 rule(s)")

    monkeypatch.chdir(ROOT)
    assert main(["rules", "check", "rules/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # with no problem: each group and the flow that evaluates it
    assert lines[0].split() == ["GROUP", "EVALUATED", "BY", "RULES", "FILES"]
    assert lines[-1] == "OK: 6 file(s), 6 group(s), 33 rule(s)"
    table = {line.split()[0]: line.split()[1:3] for line in lines[1:-1]}
    assert table == {
        **{name: [name, str(len(SHIPPED_GROUPS[name]))] for name in SHIPPED_GROUPS},
        "stackwatch-watchdog": ["none", "(for"],
    }


def test_rules_check_reports_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yml"
    assert main(["rules", "check", str(missing)]) == 1
    assert capsys.readouterr().out.strip() == f"{missing}: cannot read: No such file or directory"


BAD_BYTES = (
    b"groups:\n"
    b"  - name: latin1-group\n"
    b"    rules:\n"
    b"      - alert: Caf\xe9Down\n"
    b"        expr: up == 0\n"
)


def test_file_that_is_not_utf8_is_one_problem_beside_good_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real invalid bytes (Latin-1 ``é``) in one file; the good file beside it still loads."""
    bad = tmp_path / "x.yml"
    bad.write_bytes(BAD_BYTES)
    good = tmp_path / "good.yml"
    good.write_bytes((FIXTURES / "alerting.yml").read_bytes())
    ruleset = load_rules([str(bad), str(good)], check_promql=True)
    assert [str(p) for p in ruleset.problems] == [
        f"{bad}:4: not UTF-8 text (byte 0xe9 in column 19)"
    ]
    assert ruleset.problems[0].groups == ("latin1-group",)  # blinds only the group it names
    assert [g.name for g in ruleset.groups] == [
        "threshold-test",
        "for-test",
        "outage-test",
        "silence-test",
        "blind-test",
    ]
    assert main(["rules", "check", str(bad), str(good)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{bad}:4: not UTF-8 text (byte 0xe9 in column 19)"]
    assert captured.err.startswith("stackwatch: 1 problem(s) in 2 file(s), 5 group(s), 5 rule(s)")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfeg\x00r\x00", "x.yml:1: not UTF-8 text (byte 0xff in column 1)"),  # UTF-16
        (
            b"groups:\n  - name: a\x00b\n",
            "x.yml:2: invalid YAML: unacceptable character #x0000 in column 12",
        ),
        (b"groups: " + b"[" * 5000, "x.yml:1: invalid YAML: nested deeper than 100 levels"),
    ],
)
def test_text_that_cannot_be_yaml_is_one_problem_line(
    content: bytes, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.yml").write_bytes(content)
    Path("good.yml").write_bytes((FIXTURES / "alerting.yml").read_bytes())
    ruleset = load_rules(["x.yml", "good.yml"])
    assert [str(p) for p in ruleset.problems] == [expected]
    assert len(ruleset.groups) == 5
