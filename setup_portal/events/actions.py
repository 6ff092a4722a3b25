"""Recording what happened to an instance as an Event, and handing it to webhook delivery.

`emit_event` is the one way events come into being (the poller's changes, lifecycle changes,
test events). Within one instance every event gets the next `sequence`, under the row lock of
the instance's EventCounter, so deliveries of one record can go out in order; `dedupe_key`
makes a repeated emission (a duplicated poll message, a retried task) a no-op.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid

from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Delivery, Event, EventCounter, WebhookEndpoint

log = logging.getLogger(__name__)

# events/tasks.py (webhook delivery) defines the task under this name. Every delivery is queued
# through enqueue_delivery, by name, so neither this module nor delivery.py imports the tasks
# (which import them).
DELIVER_TASK = "setup_portal.events.tasks.deliver_event"


def enqueue_delivery(delivery_id: int, *, countdown: float | None = None) -> None:
    """Queue one attempt at a delivery (now, or after `countdown` seconds)."""
    current_app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown)


def _next_sequence(instance_id) -> int:
    """The instance's next event number, holding its counter row locked until the transaction ends."""
    EventCounter.objects.get_or_create(instance_id=instance_id)
    counter = EventCounter.objects.select_for_update().get(instance_id=instance_id)
    counter.last_sequence += 1
    counter.save(update_fields=["last_sequence"])
    return counter.last_sequence


def emit_event(instance, type: str, data: dict, *, occurred_at: dt.datetime | None = None,  # noqa: A002
               record_key: str = "", dedupe_key: str | None = None) -> Event | None:
    """Record an event of `instance` (an Instance or its id) and queue its delivery.

    Returns the new Event, or None when an event with the same `dedupe_key` already exists.
    A Delivery is created when the instance's endpoint is enabled, has a URL and wants this
    type; it is enqueued only once the caller's transaction commits, so the worker always
    finds the rows. Call it inside the transaction that makes the change, so the event exists
    exactly when the change does.
    """
    instance_id = getattr(instance, "pk", instance)
    dedupe_key = (dedupe_key or f"{type}:{uuid.uuid4().hex}")[:300]
    with transaction.atomic():
        sequence = _next_sequence(instance_id)
        # Checked under the counter lock: a concurrent emitter of the same key has committed by now.
        if Event.objects.filter(instance_id=instance_id, dedupe_key=dedupe_key).exists():
            return None
        try:
            with transaction.atomic():
                event = Event.objects.create(instance_id=instance_id, type=type, data=data,
                                             occurred_at=occurred_at or timezone.now(), record_key=record_key[:200],
                                             sequence=sequence, dedupe_key=dedupe_key)
        except IntegrityError:
            return None  # the same change, emitted at the same moment by a duplicate task
        endpoint = WebhookEndpoint.objects.filter(instance_id=instance_id).first()
        if endpoint is not None and endpoint.enabled and endpoint.url and endpoint.wants(type):
            delivery = Delivery.objects.create(event=event, endpoint=endpoint)
            transaction.on_commit(functools.partial(enqueue_delivery, delivery.pk))
    return event
