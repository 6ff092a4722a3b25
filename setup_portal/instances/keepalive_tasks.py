"""Celery tasks for keeping instances alive (found by autodiscover_tasks(related_name="keepalive_tasks")).

Beat runs the three planners; each planner enqueues one small batch task per
BATCH_SIZE instances. Tasks take ids and re-read rows, so a late or repeated delivery
does no harm.
"""

from __future__ import annotations

from celery import shared_task

from . import keepalive


@shared_task(name="instances.plan_token_refreshes")
def plan_token_refreshes() -> int:
    batches = 0
    for ids in keepalive.id_batches(keepalive.due_for_refresh()):
        refresh_tokens.delay(ids)
        batches += 1
    return batches


@shared_task(name="instances.refresh_tokens")
def refresh_tokens(instance_ids: list[str]) -> dict[str, int]:
    outcome: dict[str, int] = {}
    for instance_id in instance_ids:
        result = keepalive.refresh_token(instance_id)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


@shared_task(name="instances.plan_health_checks")
def plan_health_checks() -> int:
    batches = 0
    # Health checks make two outbound calls each; smaller batches stay well inside the task time limit.
    for ids in keepalive.id_batches(keepalive.due_for_health_check(), size=keepalive.BATCH_SIZE // 4):
        check_health_batch.delay(ids)
        batches += 1
    return batches


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
    batches = 0
    for ids in keepalive.id_batches(keepalive.due_for_reminder()):
        send_secret_reminders.delay(ids)
        batches += 1
    return batches


@shared_task(name="instances.send_secret_reminders")
def send_secret_reminders(instance_ids: list[str]) -> int:
    return keepalive.send_secret_reminders(instance_ids)
