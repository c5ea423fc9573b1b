"""Whether the data behind an alert instance can be trusted now: pure, given the scrape facts.

An alert instance ends only when the target that produced its series (its ``job`` and
``instance`` labels) is up and the collector that produces its metric family succeeded in that
target's latest scrape. A series with an ``instance`` but no ``job`` (``avg by (instance)``) is
judged on the targets of that instance; one without either (an aggregation) on every target of
the configured job. No I/O here: the facts are read by ``alerter.check``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerter.model import RESOLVED, AlertState, BlindReason

# metric family (name prefix) -> the exporter collector that produces it: the one place
COLLECTOR_OF_FAMILY: Mapping[str, str] = {
    "container_": "docker",
    "kube_": "kubernetes",
    "probe_": "services",
    "node_": "host",
}

UP = "up"
COLLECTOR_SUCCESS = "stackwatch_scrape_collector_success"

Target = tuple[str, str]  # (job, instance)

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_RANGES = re.compile(r"\[[^\[\]]*\]")
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> frozenset[str]:
    """The metric names a PromQL expression selects (with functions and keywords, which the
    family prefixes never match); label matchers, grouping labels and strings are left out."""
    text = _STRINGS.sub(" ", expr)
    text = _BRACES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGES.sub(" ", text)
    return frozenset(_NAME.findall(text))


@functools.lru_cache(maxsize=4096)
def collectors_of(expr: str) -> frozenset[str]:
    """The collectors whose metric families ``expr`` selects (``container_*`` → docker ...)."""
    return frozenset(
        collector
        for name in metric_names(expr)
        for prefix, collector in COLLECTOR_OF_FAMILY.items()
        if name.startswith(prefix)
    )


def target_of(labels: Mapping[str, str]) -> Target | None:
    job, instance = labels.get("job"), labels.get("instance")
    return (job, instance) if job and instance else None


@dataclass(frozen=True)
class ScrapeFacts:
    """The latest scrape as Prometheus holds it: ``up`` per target, and per target the
    success of each collector that reported ``stackwatch_scrape_collector_success``."""

    job: str
    up: Mapping[Target, bool] = field(default_factory=dict)
    collectors: Mapping[Target, Mapping[str, bool]] = field(default_factory=dict)
    # why the facts themselves are incomplete (a partial answer): then nothing can be judged
    incomplete: str | None = None

    def job_targets(self) -> list[Target]:
        return sorted(t for t in self.up if t[0] == self.job)

    def _collector_blind(self, target: Target, needed: Iterable[str]) -> str | None:
        reported = self.collectors.get(target)
        if not reported:  # not a stackwatch exporter: its `up` is all there is to judge
            return None
        for collector in sorted(needed):
            if not reported.get(collector, True):  # not reported: not enabled there
                return f"collector {collector} of {target[1]} (job {target[0]}) did not succeed"
        return None

    def why_blind(self, labels: Mapping[str, str], needed: Iterable[str]) -> str | None:
        """Why an instance with ``labels``, from a rule over the collectors ``needed``, cannot
        end now; None when its data is trustworthy."""
        if self.incomplete is not None:
            return self.incomplete
        needed = frozenset(needed)
        target = target_of(labels)
        instance = labels.get("instance")
        if target is None and instance:  # `by (instance)`: the targets of that instance
            for t in sorted(t for t in self.up if t[1] == instance):
                reason = self._target_blind(t, needed)
                if reason is not None:
                    return reason
            if any(t[1] == instance for t in self.up):
                return None
        if target is None:  # an aggregation: every target of the job must be seen
            targets = self.job_targets()
            if not targets:
                return f"job {self.job} has no scrape target"
            down = [t for t in targets if not self.up[t]]
            if down:
                return f"target {down[0][1]} of job {self.job} is down"
            for t in targets:
                reason = self._collector_blind(t, needed)
                if reason is not None:
                    return reason
            return None
        return self._target_blind(target, needed)

    def _target_blind(self, target: Target, needed: frozenset[str]) -> str | None:
        if target not in self.up:
            return f"target {target[1]} (job {target[0]}) is not scraped"
        if not self.up[target]:
            return f"target {target[1]} (job {target[0]}) is down"
        return self._collector_blind(target, needed)


def scrape_reasons(
    facts: ScrapeFacts, group: str, needed: Iterable[str], prior: Iterable[AlertState]
) -> list[BlindReason]:
    """The ``MonitoringBlind`` reasons of ``group`` that the scrape facts give, one per target
    or collector: down targets of the job (or of an open alert), targets of open alerts that are
    no longer scraped, and failed collectors the group's rules read."""
    needed = frozenset(needed)
    held = "Its alerts do not resolve until it is scraped again."
    reasons: list[BlindReason] = []
    if facts.incomplete is not None:
        return [
            BlindReason(
                {"cause": "partial_response", "query": "scrape_health"},
                f"Prometheus gave a partial answer on target health: {group} is blind",
                facts.incomplete,
            )
        ]
    if not facts.job_targets():
        reasons.append(
            BlindReason(
                {"cause": "target_down", "job": facts.job},
                f"Prometheus has no scrape target for job {facts.job}: {group} cannot see its data",
                "No alert of this group resolves until the exporter is scraped again.",
            )
        )
    open_targets = {
        t for p in prior if p.state != RESOLVED and (t := target_of(p.labels)) is not None
    }
    watched = set(facts.job_targets()) | open_targets
    for job, instance in sorted(watched):
        up = facts.up.get((job, instance))
        if up:
            continue
        missing = up is None
        reasons.append(
            BlindReason(
                {
                    "cause": "target_missing" if missing else "target_down",
                    "job": job,
                    "instance": instance,
                },
                f"Scrape target {instance} of job {job} is "
                f"{'no longer scraped' if missing else 'down'}: {group} is blind to it",
                held,
            )
        )
    for (job, instance), reported in sorted(facts.collectors.items()):
        if not facts.up.get((job, instance)):
            continue  # named as a down target above
        for collector in sorted(needed):
            if not reported.get(collector, True):
                reasons.append(
                    BlindReason(
                        {
                            "cause": "collector_failed",
                            "collector": collector,
                            "job": job,
                            "instance": instance,
                        },
                        f"Collector {collector} of {instance} failed: {group} is blind to it",
                        f"Alerts from {collector} data of {instance} do not resolve until "
                        "the collector succeeds again.",
                    )
                )
    return reasons
