"""The instances app's Celery tasks: provisioning, and keep-alive (token refreshes, health
checks, secret-expiry reminders). Every task takes ids and re-reads rows, so a late or
repeated delivery does no harm.

Provisioning: claim the job, run its steps in order, retry what may pass.

Safety comes from the database, not from the broker: a worker first claims the job with
a lease (one conditional UPDATE), renews the lease before every step and every retry
pause, and writes a step's result only while it still holds the lease. A duplicated or
redelivered message therefore finds the job taken (or finished) and returns quietly; a
worker that died leaves a lease that runs out, and `sweep_stale_jobs` hands the job to
the next worker, which resumes at the unfinished step.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from setup_portal.azure.errors import explain
from setup_portal.observability import context, metrics

from . import keepalive, notifications, state, token_reveal
from .models import Instance, JobStep, ProvisioningJob, StepAttempt
from .provisioning import RUNNERS, STEP_LABELS, StepSkipped, classify

logger = logging.getLogger(__name__)

MAX_TRIES = 5  # per step and per run: the first try plus four retries
BASE_DELAY = 0.5  # seconds; doubles each retry
MAX_DELAY = 20.0


def lease_seconds() -> int:
    """How long a worker may hold a job without renewing: longer than any one step can take."""
    return settings.PROVISIONING_LEASE_SECONDS


def backoff(tries: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, never shorter than the server's Retry-After."""
    ceiling = min(MAX_DELAY, lease_seconds() / 3)
    delay = BASE_DELAY * 2 ** (tries - 1)
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, ceiling)


def claim_job(job_id: int, worker: str) -> bool:
    now = timezone.now()
    claimed = (
        ProvisioningJob.objects.filter(pk=job_id, status__in=[ProvisioningJob.Status.QUEUED,
                                                              ProvisioningJob.Status.RUNNING])
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .update(status=ProvisioningJob.Status.RUNNING, lease_owner=worker,
                lease_expires_at=now + timedelta(seconds=lease_seconds()), attempts=F("attempts") + 1)
    )
    if claimed == 1:
        ProvisioningJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    return claimed == 1


def renew_lease(job_id: int, worker: str, *, extra: float = 0) -> bool:
    until = timezone.now() + timedelta(seconds=lease_seconds() + extra)
    return ProvisioningJob.objects.filter(pk=job_id, lease_owner=worker,
                                          status=ProvisioningJob.Status.RUNNING).update(lease_expires_at=until) == 1


@shared_task(name="instances.provision_instance", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def provision_instance(job_id: int) -> str:
    """Run (or resume) a provisioning job. Returns a word for the worker log."""
    worker = context.worker_name()
    if not claim_job(job_id, worker):
        return "not-claimed"  # finished, gone, or another worker holds the lease
    job = ProvisioningJob.objects.select_related("instance").get(pk=job_id)
    # Log lines' ids, cleared when the task ends (observability/celery_signals.py).
    context.bind(job_id=job.pk, instance_id=job.instance_id)
    for step in job.steps.order_by("position"):
        if step.status in (JobStep.Status.SUCCEEDED, JobStep.Status.SKIPPED):
            continue
        if not renew_lease(job_id, worker):
            return "lease-lost"
        outcome = _run_step(job, step, worker)
        if outcome == "lost":
            return "lease-lost"
        if outcome == "failed":
            _fail_job(job_id, worker, step)
            return _counted(job, "failed")
    _finish_job(job_id, worker)
    return _counted(job, "ready")


def _counted(job: ProvisioningJob, outcome: str) -> str:
    metrics.provisioning_jobs.labels(outcome).inc()
    metrics.provisioning_duration.labels(outcome).observe((timezone.now() - job.created_at).total_seconds())
    return outcome


def _claim_step(step: JobStep, worker: str, now) -> bool:
    return JobStep.objects.filter(
        pk=step.pk, job__lease_owner=worker, status__in=[JobStep.Status.PENDING, JobStep.Status.RUNNING],
    ).update(status=JobStep.Status.RUNNING, started_at=now, finished_at=None, detail="", error_code="") == 1


def _end_step(step: JobStep, attempt: StepAttempt, worker: str, *, status: str, detail: str,
              code: str = "") -> bool:
    now = timezone.now()
    with transaction.atomic():
        written = JobStep.objects.filter(pk=step.pk, job__lease_owner=worker).update(
            status=status, finished_at=now, detail=detail[:1000], error_code=code[:32])
        outcome = {JobStep.Status.FAILED: StepAttempt.Outcome.FAILED}.get(status, StepAttempt.Outcome.SUCCEEDED)
        StepAttempt.objects.filter(pk=attempt.pk).update(finished_at=now, outcome=outcome, error_code=code[:32])
    return written == 1


def _run_step(job: ProvisioningJob, step: JobStep, worker: str) -> str:
    """Run one step with bounded retries. Returns "succeeded", "failed" or "lost" (lease gone)."""
    now = timezone.now()
    if not _claim_step(step, worker, now):
        return "lost"
    attempt = StepAttempt.objects.create(step=step, worker=worker, started_at=now)
    instance = Instance.objects.get(pk=job.instance_id)
    for tries in range(1, MAX_TRIES + 1):
        JobStep.objects.filter(pk=step.pk).update(attempts=F("attempts") + 1)
        try:
            detail = RUNNERS[step.key](instance)
        except StepSkipped as skipped:
            ok = _end_step(step, attempt, worker, status=JobStep.Status.SKIPPED, detail=str(skipped))
            return "succeeded" if ok else "lost"
        except Exception as exc:  # every failure is classified; unexpected ones are logged
            failure = classify(exc)
            if failure.code == "internal_error":
                logger.exception("Step %s of job %s failed unexpectedly", step.key, job.pk)
            if failure.retryable and tries < MAX_TRIES:
                delay = backoff(tries, failure.retry_after)
                JobStep.objects.filter(pk=step.pk).update(
                    detail=f"{explain(failure.code).title} ({failure.code}); trying again in {delay:.1f} s "
                           f"(try {tries + 1} of {MAX_TRIES}).", error_code=failure.code[:32])
                if not renew_lease(job.pk, worker, extra=delay):
                    return "lost"
                time.sleep(delay)
                continue
            if failure.retryable:
                detail = f"{failure.message} Gave up after {MAX_TRIES} tries."
            else:
                detail = failure.message
            ok = _end_step(step, attempt, worker, status=JobStep.Status.FAILED, detail=detail, code=failure.code)
            return "failed" if ok else "lost"
        ok = _end_step(step, attempt, worker, status=JobStep.Status.SUCCEEDED, detail=detail)
        return "succeeded" if ok else "lost"
    return "failed"  # unreachable: the last try either returns or fails above


def _fail_job(job_id: int, worker: str, step: JobStep) -> None:
    step.refresh_from_db()
    with transaction.atomic():
        if ProvisioningJob.objects.filter(pk=job_id, lease_owner=worker).update(
                status=ProvisioningJob.Status.FAILED, finished_at=timezone.now(), error_code=step.error_code,
                error_detail=step.detail, lease_owner="", lease_expires_at=None) != 1:
            return
        job = ProvisioningJob.objects.get(pk=job_id)
        state.mark_provisioning_failed(job, step=step.key, step_label=STEP_LABELS[step.key],
                                       error_code=step.error_code, detail=step.detail, acting_user=None)


def _finish_job(job_id: int, worker: str) -> None:
    with transaction.atomic():
        job = ProvisioningJob.objects.select_for_update().get(pk=job_id)
        if job.lease_owner != worker:
            return
        job.status = ProvisioningJob.Status.SUCCEEDED
        job.finished_at = timezone.now()
        job.lease_owner = ""
        job.lease_expires_at = None
        job.save(update_fields=["status", "finished_at", "lease_owner", "lease_expires_at"])
        state.mark_ready(job, acting_user=None)


@shared_task(name="instances.sweep_stale_jobs", ignore_result=True)
def sweep_stale_jobs() -> int:
    """Hand jobs whose worker died (lease expired) or whose message was lost to a worker again."""
    now = timezone.now()
    requeued = 0
    stale = ProvisioningJob.objects.filter(status=ProvisioningJob.Status.RUNNING, lease_expires_at__lt=now)
    for job_id, owner in stale.values_list("pk", "lease_owner"):
        with transaction.atomic():
            taken = ProvisioningJob.objects.filter(pk=job_id, status=ProvisioningJob.Status.RUNNING,
                                                   lease_owner=owner, lease_expires_at__lt=now).update(
                status=ProvisioningJob.Status.QUEUED, lease_owner="", lease_expires_at=None)
            if taken != 1:
                continue
            StepAttempt.objects.filter(step__job_id=job_id, worker=owner,
                                       outcome=StepAttempt.Outcome.RUNNING).update(
                outcome=StepAttempt.Outcome.ABANDONED, finished_at=now)
            transaction.on_commit(lambda pk=job_id: provision_instance.delay(pk))
        requeued += 1
    # A queued job nobody picked up for a long time lost its message (broker restart):
    # enqueue it again; the claim makes a duplicate message harmless.
    forgotten = ProvisioningJob.objects.filter(status=ProvisioningJob.Status.QUEUED,
                                               created_at__lt=now - timedelta(seconds=2 * lease_seconds()),
                                               lease_expires_at__isnull=True)
    for job_id in forgotten.values_list("pk", flat=True):
        provision_instance.delay(job_id)
        requeued += 1
    if requeued:
        logger.info("Re-enqueued %d provisioning job(s)", requeued)
    return requeued


@shared_task(name="instances.erase_expired_token_reveals", ignore_result=True)
def erase_expired_token_reveals() -> int:
    """New instance tokens nobody confirmed within a day: erased (token_reveal.py)."""
    return token_reveal.erase_expired()


# Keep-alive -------------------------------------------------------------------------------------
# Beat runs the three planners; each planner enqueues one small batch task per BATCH_SIZE instances.

def _enqueue_batches(due: QuerySet[Instance], task, *, size: int = keepalive.BATCH_SIZE) -> int:
    """One `task` message per batch of the due instances' ids; returns how many were sent."""
    batches = 0
    for ids in keepalive.id_batches(due, size=size):
        task.delay(ids)
        batches += 1
    return batches


@shared_task(name="instances.plan_token_refreshes")
def plan_token_refreshes() -> int:
    return _enqueue_batches(keepalive.due_for_refresh(), refresh_tokens)


@shared_task(name="instances.refresh_tokens")
def refresh_tokens(instance_ids: list[str]) -> dict[str, int]:
    outcome: dict[str, int] = {}
    for instance_id in instance_ids:
        result = keepalive.refresh_token(instance_id)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


@shared_task(name="instances.plan_health_checks")
def plan_health_checks() -> int:
    # Health checks make two outbound calls each; smaller batches stay well inside the task time limit.
    return _enqueue_batches(keepalive.due_for_health_check(), check_health_batch, size=keepalive.BATCH_SIZE // 4)


@shared_task(name="instances.check_health_batch")
def check_health_batch(instance_ids: list[str]) -> int:
    return sum(1 for instance_id in instance_ids if keepalive.check_health(instance_id) is not None)


@shared_task(name="instances.check_instance_health")
def check_instance_health(instance_id: str, triggered_by_id: int | None = None) -> bool | None:
    """One check asked for from the instance page ("Test connection now")."""
    check = keepalive.check_health(instance_id, triggered_by_id=triggered_by_id)
    return None if check is None else check.ok


@shared_task(name="instances.plan_secret_reminders")
def plan_secret_reminders() -> int:
    return _enqueue_batches(keepalive.due_for_reminder(), send_secret_reminders)


@shared_task(name="instances.send_secret_reminders")
def send_secret_reminders(instance_ids: list[str]) -> int:
    return keepalive.send_secret_reminders(instance_ids)


@shared_task(name="instances.send_resubmitted_notice", ignore_result=True)
def send_resubmitted_notice(instance_id: str, changes: dict) -> bool:
    return notifications.send_resubmitted_notice(instance_id, changes)
