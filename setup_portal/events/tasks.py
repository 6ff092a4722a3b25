"""Celery tasks of the events app. Tasks take ids, re-read rows and claim their work (real-time mode's
and the poll's tasks: setup_portal/polling/)."""

from __future__ import annotations

from celery import shared_task

from . import delivery, notifications
from .actions import DELIVER_TASK, enqueue_delivery


# --- webhook delivery ------------------------------------------------------------------------
@shared_task(name=DELIVER_TASK, acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def deliver_event(delivery_id: int) -> str:
    """One attempt at a webhook delivery (see delivery.py). Returns a word for the worker log."""
    return delivery.deliver(delivery_id)


@shared_task(name="events.retry_due_deliveries", ignore_result=True)
def retry_due_deliveries() -> int:
    """Beat: hand out retries that are due and deliveries whose worker died; disable endpoints
    that have failed for too long. Returns how many deliveries were queued."""
    for endpoint_id in delivery.failing_endpoint_ids():
        delivery.disable_if_failing_too_long(endpoint_id)
    ids = delivery.due_delivery_ids()
    for delivery_id in ids:
        enqueue_delivery(delivery_id)
    return len(ids)


# --- notifications ---------------------------------------------------------------------------
@shared_task(name="events.send_notification_digests", ignore_result=True)
def send_notification_digests() -> int:
    """Beat: the hourly digest e-mails of notifications that came within the hour of another's."""
    return notifications.send_digests()
