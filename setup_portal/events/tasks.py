"""Celery tasks of the events app. Tasks take ids, re-read rows and claim their work."""

from __future__ import annotations

from celery import shared_task

from . import delivery, intake, notifications, realtime


# --- webhook delivery ------------------------------------------------------------------------
@shared_task(name="setup_portal.events.tasks.deliver_event", acks_late=True, reject_on_worker_lost=True,
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
        deliver_event.delay(delivery_id)
    return len(ids)


# --- notifications ---------------------------------------------------------------------------
@shared_task(name="events.send_notification_digests", ignore_result=True)
def send_notification_digests() -> int:
    """Beat: the hourly digest e-mails of notifications that came within the hour of another's."""
    return notifications.send_digests()


# --- real-time mode (Dataverse's own webhooks) -----------------------------------------------
@shared_task(name="events.sync_realtime", acks_late=True, ignore_result=True)
def sync_realtime(instance_id: str) -> str:
    """Register or remove the instance's webhook and steps in Dataverse to match its settings."""
    return realtime.sync_realtime(instance_id)


@shared_task(name="events.push_hook_key", acks_late=True, ignore_result=True)
def push_hook_key(instance_id: str) -> str:
    """After a key rotation: the service endpoint in Dataverse gets the new key."""
    return realtime.push_hook_key(instance_id)


@shared_task(name="events.take_push", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def take_push(instance_id: str, message: str, entity: str, record_id: str) -> str:
    """One change Dataverse pushed, as the event polling would make of it."""
    return intake.take_push(instance_id, message, entity, record_id)
