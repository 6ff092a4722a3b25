"""Celery tasks of real-time mode (the poll's own tasks, plan_polls and poll_instance, are in poller.py).
Task names are the ones they had in events/, so queued messages and beat entries keep working."""

from __future__ import annotations

from celery import shared_task

from . import intake, realtime


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
