"""Prometheus's rule semantics in the pure evaluation and templates (no servers): steps before
the server held data never count toward ``for``, a first evaluation's start comes from the
look back, and ``$labels`` are the sample's labels, printed as a Go map."""

from __future__ import annotations

import math

from alerter.evaluate import evaluate_rule, new_since_window, window_for
from alerter.history import _run_start
from alerter.model import FIRING, PENDING
from alerter.rules import Rule
from alerter.templating import render
from stackwatch.prometheus import Series

NOW = 1_800_000_000.0
ABSENT = Rule(alert="NothingScraped", expr='absent(up{job="x"})', group="g", for_=300.0)


def everywhere(window_start: float, end: float, step: float) -> Series:
    """What a range query answers for ``absent()``: 1 at every step, before the server too."""
    n = round((end - window_start) / step)
    return Series({}, [(window_start + i * step, 1.0) for i in range(n + 1)])


def test_steps_before_the_server_held_data_do_not_count() -> None:
    window = window_for(ABSENT, NOW)
    [alert] = evaluate_rule(
        ABSENT, [everywhere(window.start, NOW, window.step)], [], NOW, window, held_from=NOW - 40
    )
    assert alert.state == PENDING
    assert alert.active_since is not None
    assert NOW - 40 <= alert.active_since < NOW - 40 + window.step


def test_without_a_bound_the_same_answer_fires() -> None:
    window = window_for(ABSENT, NOW)
    [alert] = evaluate_rule(ABSENT, [everywhere(window.start, NOW, window.step)], [], NOW, window)
    assert alert.state == FIRING


def test_pending_since_data_began_fires_once_for_has_passed() -> None:
    window = window_for(ABSENT, NOW)
    held = NOW - 40
    [pending] = evaluate_rule(
        ABSENT, [everywhere(window.start, NOW, window.step)], [], NOW, window, held_from=held
    )
    later = NOW + 200  # the window still starts before the data: held since data began
    window2 = window_for(ABSENT, later)
    [still] = evaluate_rule(
        ABSENT,
        [everywhere(window2.start, later, window2.step)],
        [pending],
        later,
        window2,
        held_from=held,
    )
    assert (still.state, still.active_since) == (PENDING, pending.active_since)
    last = NOW + 300
    window3 = window_for(ABSENT, last)
    [fired] = evaluate_rule(
        ABSENT,
        [everywhere(window3.start, last, window3.step)],
        [still],
        last,
        window3,
        held_from=held,
    )
    assert (fired.state, fired.active_since) == (FIRING, pending.active_since)


def test_a_long_history_bounds_nothing() -> None:
    window = window_for(ABSENT, NOW)
    [alert] = evaluate_rule(
        ABSENT,
        [everywhere(window.start, NOW, window.step)],
        [],
        NOW,
        window,
        held_from=-math.inf,
    )
    assert alert.state == FIRING


WARM = Rule(
    alert="Warm",
    expr="t > 30",
    group="g",
    for_=60.0,
    labels={"severity": "warning", "team": "{{ $labels.room }}-ops"},
    annotations={"summary": "{{ $labels }}", "severity": "[{{ $labels.severity }}]"},
)


def warm(start: float, end: float, step: float) -> Series:
    n = round((end - start) / step)
    return Series({"__name__": "t", "room": "a"}, [(start + i * step, 35.0) for i in range(n + 1)])


def test_a_first_evaluation_is_active_since_the_look_back() -> None:
    window = window_for(WARM, NOW)
    data = [warm(window.start, NOW, window.step)]
    key = frozenset({("room", "a")})
    assert new_since_window(WARM, data, [], window) == [key]
    [alert] = evaluate_rule(WARM, data, [], NOW, window, starts={key: NOW - 3600})
    assert alert.state == FIRING
    assert alert.active_since == NOW - 3600
    # an alert already active keeps its own start, and needs no look back
    assert new_since_window(WARM, data, [alert], window) == []
    later = NOW + 60
    window2 = window_for(WARM, later)
    data2 = [warm(window2.start, later, window2.step)]
    [kept] = evaluate_rule(WARM, data2, [alert], later, window2, starts={key: NOW - 60})
    assert kept.active_since == NOW - 3600


def test_a_condition_younger_than_its_window_needs_no_look_back() -> None:
    window = window_for(WARM, NOW)
    assert new_since_window(WARM, [warm(NOW - 20, NOW, window.step)], [], window) == []


def test_run_start_walks_back_the_unbroken_run_ending_at_the_window() -> None:
    values = [(t, 1.0) for t in (100.0, 110.0, 150.0, 160.0, 170.0)]
    assert _run_start(values, 170.0, 10.0) == 150.0
    assert _run_start(values, 190.0, 10.0) is None  # broken before the window starts


def test_labels_are_the_samples_not_the_rules() -> None:
    window = window_for(WARM, NOW)
    [alert] = evaluate_rule(WARM, [warm(window.start, NOW, window.step)], [], NOW, window)
    assert alert.labels == {
        "room": "a",
        "severity": "warning",
        "team": "a-ops",
        "alertname": "Warm",
    }
    assert alert.annotations == {"summary": "map[__name__:t room:a]", "severity": "[]"}


def test_labels_print_as_a_go_map() -> None:
    labels = {"job": "node", "instance": "host:9100"}
    assert render("{{ $labels }}", labels, 1.0) == "map[instance:host:9100 job:node]"
    assert render('{{ printf "%v" .Labels }}', labels, 1.0) == "map[instance:host:9100 job:node]"
    assert render("{{ $labels }}", {}, 1.0) == "map[]"
    assert render("{{ $externalLabels }}", labels, 1.0, {"dc": "b", "cl": "a"}) == "map[cl:a dc:b]"
    assert render("{{ $labels.job }}/{{ $labels.nope }}", labels, 1.0) == "node/"
