"""Job and CronJob families (kube-state-metrics' ``job.go`` and ``cronjob.go``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from exporter.kube.families import Builder, Object, Spec, meta, number, owner_labels, timestamp
from exporter.kube.schedule import next_run

log = logging.getLogger(__name__)
# the Failed condition reasons KSM reports one-hot on kube_job_status_failed
JOB_FAILURE_REASONS = ("BackoffLimitExceeded", "DeadlineExceeded", "Evicted")

JOBS = (
    Spec("kube_job_owner", "Information about the Job's owner."),
    Spec(
        "kube_job_spec_completions",
        "The desired number of successfully finished pods the job should be run with.",
    ),
    Spec("kube_job_status_succeeded", "The number of pods which reached Phase Succeeded."),
    Spec(
        "kube_job_status_failed",
        "The number of pods which reached Phase Failed and the reason for failure.",
    ),
    Spec("kube_job_failed", "The job has failed its execution."),
)
CRONJOBS = (
    Spec(
        "kube_cronjob_next_schedule_time",
        "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after "
        "the cron job's creation time if it's never been scheduled. Use this to determine if "
        "the job is delayed.",
    ),
    Spec(
        "kube_cronjob_status_last_schedule_time",
        "LastScheduleTime keeps information of when was the last time the job was "
        "successfully scheduled.",
    ),
    Spec("kube_cronjob_status_active", "Active holds pointers to currently running jobs."),
)


def _failed(job: Object, labels: dict[str, str], out: Builder) -> None:
    status = job.get("status") or {}
    failed = number(status.get("failed"))
    if failed == 0:
        out.add("kube_job_status_failed", labels, 0.0)
        return
    known = False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Failed":
            for reason in JOB_FAILURE_REASONS:
                hit = condition.get("reason") == reason
                known = known or hit
                out.add("kube_job_status_failed", {**labels, "reason": reason}, float(hit))
    if not known:
        out.add("kube_job_status_failed", {**labels, "reason": ""}, failed)


def parse_jobs(jobs: Iterable[Object], out: Builder) -> None:
    """Owner, completions, succeeded and failed pods, and the Failed condition one-hot."""
    for job in jobs:
        metadata = meta(job)
        labels = {"namespace": str(metadata["namespace"]), "job_name": str(metadata["name"])}
        spec = job.get("spec") or {}
        status = job.get("status") or {}
        # KSM's kube_job_owner without owners has empty, not "<none>", values
        for owner in owner_labels(job, ""):
            out.add("kube_job_owner", {**labels, **owner}, 1.0)
        if spec.get("completions") is not None:
            out.add("kube_job_spec_completions", labels, float(spec["completions"]))
        out.add("kube_job_status_succeeded", labels, number(status.get("succeeded")))
        _failed(job, labels, out)
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Failed":
                out.condition("kube_job_failed", labels, condition.get("status"))


def parse_cronjobs(cronjobs: Iterable[Object], out: Builder) -> None:
    """Next and last schedule time and the number of active Jobs."""
    for cronjob in cronjobs:
        metadata = meta(cronjob)
        labels = {"namespace": str(metadata["namespace"]), "cronjob": str(metadata["name"])}
        spec = cronjob.get("spec") or {}
        status = cronjob.get("status") or {}
        last = status.get("lastScheduleTime")
        if not spec.get("suspend"):
            since = last or metadata.get("creationTimestamp")
            try:
                after = datetime.fromisoformat(since) if since else datetime.now(UTC)
                run = next_run(str(spec.get("schedule", "")), after, spec.get("timeZone"))
            except (ValueError, KeyError) as exc:
                # one bad object must not hide the whole list (KSM skips it too)
                log.warning("cronjob %s/%s: %s", labels["namespace"], labels["cronjob"], exc)
            else:
                out.add("kube_cronjob_next_schedule_time", labels, float(int(run.timestamp())))
        if last:
            out.add("kube_cronjob_status_last_schedule_time", labels, timestamp(last))
        out.add("kube_cronjob_status_active", labels, float(len(status.get("active") or [])))
