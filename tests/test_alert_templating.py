"""Annotations written for Prometheus render as Prometheus renders them (expected strings are
Go's output for the same template), inside a sandbox."""

from __future__ import annotations

import math
import time

import pytest

from alerter.gotemplate import TemplateError
from alerter.templating import check_template, render
from stackwatch.format import (
    format_value,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
)
from tests.support.timing import within

LABELS = {"instance": "web-1:9100", "job": "node", "mountpoint": "/var"}


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ $labels.instance }} is down", 0.0, "web-1:9100 is down"),
        ("{{ $value }}", 95.5, "95.5"),
        ("{{ $value }}", 100.0, "100"),
        ("{{ $value }}", 1e6, "1e+06"),
        ("{{ $value | humanize }}", 1234567.0, "1.235M"),
        ("{{ humanize $value }}", 0.001234, "1.234m"),
        ("{{ $value | humanize1024 }}", 1073741824.0, "1Gi"),
        ("{{ $value | humanizePercentage }}", 0.9123, "91.23%"),
        ("{{ $value | humanizeDuration }}", 90061.0, "1d 1h 1m 1s"),
        ("{{ $value | humanizeDuration }}", 0.25, "250ms"),
        ('{{ printf "%.2f" $value }}', 3.14159, "3.14"),
        ('{{ $value | printf "%.1f" }}', 2.25, "2.2"),
        ('{{ printf "é\t%s" $labels.job }}', 0.0, "é\tnode"),
        ("{{ .Labels.job }}/{{ .Value }}", 3.0, "node/3"),
        ('{{ index $labels "mountpoint" }}', 0.0, "/var"),
        ("{{ $labels.instance | stripPort }}", 0.0, "web-1"),
        ("{{ if gt $value 80.0 }}hot{{ else }}ok{{ end }}", 81.0, "hot"),
        ("{{ if gt $value 80.0 }}hot{{ else }}ok{{ end }}", 79.0, "ok"),
        ("{{- $labels.job -}} !", 0.0, "node!"),
        ("{{ $labels.missing }}|", 0.0, "|"),
        ("plain {% raw %} text", 0.0, "plain {% raw %} text"),
        ("{{ $value }}", math.inf, "+Inf"),
    ],
)
def test_prometheus_templates_render_unchanged(template: str, value: float, expected: str) -> None:
    assert render(template, LABELS, value) == expected


def test_sandbox_blocks_python_internals() -> None:
    out = render('{{ printf "%s" $labels.__class__.__mro__ }}', LABELS, 1.0)
    assert out.startswith("<error expanding template: access to attribute '__class__'")
    assert "<class" not in out
    assert render("{{ $labels.__class__ }}", LABELS, 1.0) == ""


@pytest.mark.parametrize(
    ("template", "message", "line"),
    [
        ("{{ $value | }}", "empty command in pipeline", 1),
        ("a\nb {{ humanise $value }}", "unknown function 'humanise'", 2),
        ("{{ $nope }}", "unknown variable $nope", 1),
        ("{{ range $labels }}x{{ end }}", "template action 'range' is not supported", 1),
        ("{{ end }}", "{{ end }} without a block to close", 1),
    ],
)
def test_template_errors_name_the_problem(template: str, message: str, line: int) -> None:
    with pytest.raises(TemplateError) as info:
        check_template(template)
    assert str(info.value) == message
    assert info.value.line == line


def test_humanize_functions_match_go() -> None:
    assert humanize(0) == "0"
    assert humanize(-2500) == "-2.5k"
    assert humanize(math.nan) == "NaN"
    assert humanize1024(1) == "1"
    assert humanize1024(1536) == "1.5ki"
    assert humanize_percentage(1) == "100%"
    assert humanize_duration(59.5) == "59.5s"
    assert humanize_duration(3600) == "1h 0m 0s"
    assert humanize_duration(-61) == "-1m 1s"
    assert format_value(0.1 + 0.2) == "0.30000000000000004"
    assert format_value(123456.0) == "123456"
    assert format_value(1234567.0) == "1.234567e+06"
    assert format_value(0.00001) == "1e-05"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Go's text/template prints text outside {{ }} as it is: Jinja syntax is only text
        (
            "{% endraw %}{% for i in range(3) %}x{% endfor %} on {{ $labels.instance }}",
            "{% endraw %}{% for i in range(3) %}x{% endfor %} on web-1:9100",
        ),
        (
            "{{ $labels.job }}{% endraw %}{{ $labels.job }}{% raw %}{{ $labels.job }}",
            "node{% endraw %}node{% raw %}node",
        ),
        (
            "{# not a comment #}{{ $labels.job }}{%- if true %}",
            "{# not a comment #}node{%- if true %}",
        ),
        ("{{ $value }} }} {% set x = 1 %}{{ 4 }}", "3 }} {% set x = 1 %}4"),
        ('{{ "{% endraw %}{{ 7 }}" }}', "{% endraw %}{{ 7 }}"),  # a string inside an action
        ('{{ printf "%s}}%s" $labels.job "{%" }}', "node}}{%"),
        ("{{/* a }} comment */}}{{ $labels.job }}", "node"),
        ("a\r\n{{ $labels.job }}\\n'\"\x85é\U0001f525", "a\r\nnode\\n'\"\x85é\U0001f525"),
    ],
)
def test_jinja_syntax_in_a_template_is_text(template: str, expected: str) -> None:
    check_template(template)
    assert render(template, LABELS, 3.0) == expected


def test_jinja_syntax_in_label_values_is_text() -> None:
    labels = {"note": "{{ 7*7 }}{% for i in range(9) %}{% endfor %}"}
    assert render("{{ $labels.note }}", labels, 1.0) == labels["note"]


@pytest.mark.timeout(30)
def test_injected_nested_loops_do_not_run() -> None:
    """Before, ``{% endraw %}`` closed the translator's raw block: these loops ran 10^15 times."""
    loops = (
        "{% endraw %}{% for a in range(99999) %}{% for b in range(99999) %}"
        "{% for c in range(99999) %}x{% endfor %}{% endfor %}{% endfor %}{% raw %}"
    )
    started = time.monotonic()
    assert render(loops + " {{ $labels.job }}", LABELS, 1.0) == loops + " node"
    assert time.monotonic() - started < within(1)


@pytest.mark.timeout(30)
def test_a_render_that_runs_too_long_ends_with_a_clear_problem() -> None:
    # catastrophic backtracking: Go's RE2 answers at once, a backtracking engine takes hours
    template = '{{ if match "(a|aa)+$" $labels.x }}matched{{ end }}'
    started = time.monotonic()
    out = render(template, {"x": "a" * 40 + "!"}, 1.0)
    assert time.monotonic() - started < within(3)
    assert out == f"<error expanding template: rendering took longer than 1s> {template}"


@pytest.mark.parametrize(
    "template",
    [
        '{{ printf "%0100000000d" 1 }}',
        '{{ printf "%.100000000f" 1.0 }}',
        '{{ reReplaceAll "" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" (reReplaceAll "" '
        '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" (reReplaceAll "" '
        '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" (reReplaceAll "" '
        '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" $labels.job))) }}',
    ],
)
@pytest.mark.timeout(30)
def test_a_function_that_would_produce_megabytes_ends_with_a_clear_problem(template: str) -> None:
    started = time.monotonic()
    out = render(template, LABELS, 1.0)
    assert time.monotonic() - started < within(1)
    assert out == f"<error expanding template: output longer than 65536 characters> {template}"


def test_long_output_is_cut_and_marked() -> None:
    big = {"x": "y" * 50_000}
    out = render("{{ $labels.x }} {{ $labels.x }}", big, 1.0)
    assert out == "y" * 50_000 + " " + "y" * 15_535 + "… [cut: longer than 65536 characters]"


def test_go_replacement_references() -> None:
    template = (
        '{{ reReplaceAll "(?P<host>[a-z]+)-(\\\\d+)" "${host}#$2$$ $2x \\\\1" $labels.instance }}'
    )
    assert render(template, LABELS, 1.0) == "web#1$  \\1:9100"
