"""No false RESOLVED: each alert instance is judged on its own target and collector, on series
and scrape facts as the client parses them (no servers)."""

from __future__ import annotations

from alerter.evaluate import evaluate_rule, window_for
from alerter.model import FIRING, RESOLVED, AlertState
from alerter.rules import Rule
from alerter.trust import ScrapeFacts, collectors_of, metric_names, scrape_reasons
from stackwatch.prometheus import QueryResult, Series, _completeness

NOW = 1_800_000_000.0
JOB = "stackwatch"
UNHEALTHY = Rule(
    alert="ContainerUnhealthy",
    expr='container_state_health_status{status="unhealthy"} == 1',
    group="docker-restart-monitor",
)
CPU = Rule(alert="HighCpu", expr="test_cpu_ratio > 0.8", group="g")
PODS = Rule(
    alert="KubePodFailed",
    expr='max by (namespace, pod) (kube_pod_status_phase{phase="Failed"}) == 1',
    group="k8s",
)


def _series(rule: Rule, **labels: str) -> Series:
    return Series({"__name__": "x", **labels}, [(NOW, 1.0)])


def _fire(rule: Rule, *labelsets: dict[str, str]) -> list[AlertState]:
    window = window_for(rule, NOW)
    states = evaluate_rule(rule, [_series(rule, **ls) for ls in labelsets], [], NOW, window)
    assert [s.state for s in states] == [FIRING] * len(labelsets)
    return states


def _later(rule: Rule, prior: list[AlertState], facts: ScrapeFacts) -> dict[str, str]:
    """Every instance's state one minute later, with no series at all (the condition is gone
    or its data is), keyed by the instance label."""
    t = NOW + 60
    after = evaluate_rule(rule, [], prior, t, window_for(rule, t), facts=facts)
    return {s.labels.get("instance", "-"): s.state for s in after}


def test_family_collectors_come_from_the_metric_names_the_expression_selects() -> None:
    assert collectors_of(UNHEALTHY.expr) == {"docker"}
    assert collectors_of(PODS.expr) == {"kubernetes"}
    assert collectors_of("probe_ssl_earliest_cert_expiry - time() < 14 * 86400") == {"services"}
    assert collectors_of(
        '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.80'
    ) == {"host"}
    assert collectors_of("stackwatch_scrape_collector_success == 0") == frozenset()
    # label names and values are not metric names
    assert collectors_of('up{job="node_exporter"} * on (node_id) group_left test_x') == set()
    assert "node_id" not in metric_names("sum by (node_id) (test_x)")


def test_collector_failure_keeps_the_unhealthy_container_firing() -> None:
    """dockerd stopped with --live-restore: the exporter is up, the docker collector fails and
    the container series vanish; the container is still unhealthy."""
    [firing] = _fire(UNHEALTHY, {"job": JOB, "instance": "h1:9105", "name": "api"})
    target = (JOB, "h1:9105")
    failed = ScrapeFacts(JOB, {target: True}, {target: {"docker": False, "host": True}})
    assert _later(UNHEALTHY, [firing], failed) == {"h1:9105": FIRING}
    back = ScrapeFacts(JOB, {target: True}, {target: {"docker": True, "host": True}})
    assert _later(UNHEALTHY, [firing], back) == {"h1:9105": RESOLVED}
    # another collector failing does not hold a docker alert
    other = ScrapeFacts(JOB, {target: True}, {target: {"docker": True, "host": False}})
    assert _later(UNHEALTHY, [firing], other) == {"h1:9105": RESOLVED}


def test_one_down_target_blinds_only_its_own_alerts() -> None:
    prior = _fire(
        CPU,
        {"job": JOB, "instance": "h1:9105", "host": "h1"},
        {"job": JOB, "instance": "h2:9105", "host": "h2"},
    )
    facts = ScrapeFacts(JOB, {(JOB, "h1:9105"): False, (JOB, "h2:9105"): True})
    assert _later(CPU, prior, facts) == {"h1:9105": FIRING, "h2:9105": RESOLVED}
    # a target no longer scraped at all is no proof either
    gone = ScrapeFacts(JOB, {(JOB, "h2:9105"): True})
    assert _later(CPU, prior, gone) == {"h1:9105": FIRING, "h2:9105": RESOLVED}


def test_aggregations_keep_the_group_level_check() -> None:
    [firing] = _fire(PODS, {"namespace": "default", "pod": "web"})
    up = {(JOB, "h1:9105"): True, (JOB, "h2:9105"): True}
    one_down = ScrapeFacts(JOB, {**up, (JOB, "h2:9105"): False})
    assert _later(PODS, [firing], one_down) == {"-": FIRING}
    assert _later(PODS, [firing], ScrapeFacts(JOB, {})) == {"-": FIRING}  # no target at all
    failed = ScrapeFacts(JOB, up, {(JOB, "h1:9105"): {"kubernetes": False}})
    assert _later(PODS, [firing], failed) == {"-": FIRING}
    assert _later(PODS, [firing], ScrapeFacts(JOB, up)) == {"-": RESOLVED}


def test_by_instance_series_are_judged_on_the_targets_of_that_instance() -> None:
    rule = Rule(
        alert="HighCpuUsage",
        expr='1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.8',
        group="g",
    )
    prior = _fire(rule, {"instance": "h1:9105"}, {"instance": "h2:9105"})
    up = {(JOB, "h1:9105"): True, (JOB, "h2:9105"): True}
    host_failed = ScrapeFacts(JOB, up, {(JOB, "h1:9105"): {"host": False}})
    assert _later(rule, prior, host_failed) == {"h1:9105": FIRING, "h2:9105": RESOLVED}
    h1_down = ScrapeFacts(JOB, {**up, (JOB, "h1:9105"): False})
    assert _later(rule, prior, h1_down) == {"h1:9105": FIRING, "h2:9105": RESOLVED}


def test_a_partial_answer_resolves_nothing() -> None:
    prior = _fire(CPU, {"job": JOB, "instance": "h1:9105"})
    facts = ScrapeFacts(JOB, {(JOB, "h1:9105"): True})
    t = NOW + 60
    kept = evaluate_rule(CPU, [], prior, t, window_for(CPU, t), blind=True, facts=facts)
    assert kept == prior
    incomplete = ScrapeFacts(JOB, {}, {}, incomplete="store gateway unreachable")
    assert _later(CPU, prior, incomplete) == {"h1:9105": FIRING}


def test_blind_reasons_name_the_target_and_the_collector() -> None:
    [open_alert] = _fire(UNHEALTHY, {"job": "docker-hosts", "instance": "h9:9105"})
    facts = ScrapeFacts(
        JOB,
        {(JOB, "h1:9105"): True, (JOB, "h2:9105"): False},
        {(JOB, "h1:9105"): {"docker": False, "kubernetes": False}},
    )
    reasons = scrape_reasons(facts, "docker-restart-monitor", {"docker"}, [open_alert])
    assert [r.labels for r in reasons] == [
        {"cause": "target_missing", "job": "docker-hosts", "instance": "h9:9105"},
        {"cause": "target_down", "job": JOB, "instance": "h2:9105"},
        {"cause": "collector_failed", "collector": "docker", "job": JOB, "instance": "h1:9105"},
    ]
    assert reasons[2].summary == (
        "Collector docker of h1:9105 failed: docker-restart-monitor is blind to it"
    )
    assert [r.labels for r in scrape_reasons(ScrapeFacts(JOB), "g", (), [])] == [
        {"cause": "target_down", "job": JOB}
    ]


def test_the_client_reads_warnings_and_partial_flags() -> None:
    """On answer bodies as Thanos, Mimir, VictoriaMetrics and Prometheus 2.x give them."""
    thanos = _completeness(QueryResult([1]), {"status": "success", "warnings": ["store: timeout"]})
    assert thanos.incomplete == "store: timeout"
    vm = _completeness(QueryResult([1]), {"status": "success", "isPartial": True})
    assert vm.incomplete == "the server marked its answer partial"
    info = _completeness(
        QueryResult([1]), {"warnings": ["PromQL info: metric might not be a counter"]}
    )
    assert info.incomplete is None
    assert _completeness(QueryResult([1]), {"status": "success"}).incomplete is None
