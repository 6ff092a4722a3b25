"""Webhook delivery: one attempt at a time per Delivery, under a lease, in record order.

A worker claims a delivery with a lease (`claim`), posts the signed event through the
outbound guard, writes a DeliveryAttempt and then either marks it succeeded (2xx), schedules
the next try (backoff from WEBHOOK_RETRY_DELAYS with jitter) or gives up. At least once: a
worker that dies mid-attempt leaves a lease that expires, and the beat sweep hands it out again;
receivers de-duplicate on webhook-id (the Event's id, the same on every try).

Order per record: a delivery of an event with a `record_key` waits while an earlier-sequence
event of the same record for the same endpoint is neither succeeded nor given up, so an update
never overtakes its create. When a delivery ends, the next one of its record is sent at once.

An endpoint that has been failing (no success) for WEBHOOK_DISABLE_AFTER_DAYS is disabled, and
its owner and the team leads are told.
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.observability import metrics
from setup_portal.observability.context import worker_name

from . import guard
from .actions import enqueue_delivery
from .models import Delivery, DeliveryAttempt, WebhookEndpoint
from .notifications import notify, recipients
from .signing import body_of, signed_headers

log = logging.getLogger(__name__)
S = Delivery.Status
FINAL = (S.SUCCEEDED, S.GAVE_UP, S.SKIPPED)
WAITING = (S.PENDING, S.FAILED)
# Retries this soon are queued with a countdown; later ones are left to the beat sweep,
# so no broker holds a message for hours.
COUNTDOWN_LIMIT = 300
SWEEP_BATCH = 500


def lease_seconds() -> int:
    return settings.WEBHOOK_TIMEOUT_SECONDS + 30


def retry_delay(attempts: int) -> float | None:
    """Seconds before the next try after `attempts` failed ones; None when it is time to give up."""
    delays = settings.WEBHOOK_RETRY_DELAYS
    if attempts > len(delays):
        return None
    return delays[attempts - 1] * random.uniform(0.8, 1.2)


def claimable(now: dt.datetime) -> Q:
    """Deliveries a worker may take now: waiting and due, or delivering with a lease run out."""
    due = Q(status__in=WAITING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    stale = Q(status=S.DELIVERING, lease_expires_at__lte=now)
    return due | stale


def claim(delivery_id: int, worker: str) -> bool:
    now = timezone.now()
    return Delivery.objects.filter(claimable(now), pk=delivery_id).update(
        status=S.DELIVERING, lease_owner=worker, lease_expires_at=now + dt.timedelta(seconds=lease_seconds())) == 1


def earlier_unfinished(delivery: Delivery) -> Delivery | None:
    """The delivery of an earlier event of the same record that must go out first, if any."""
    event = delivery.event
    if not event.record_key:
        return None
    return (Delivery.objects.filter(endpoint_id=delivery.endpoint_id, event__instance_id=event.instance_id,
                                    event__record_key=event.record_key, event__sequence__lt=event.sequence)
            .exclude(status__in=FINAL).order_by("event__sequence").first())


def _release(delivery: Delivery, worker: str, **fields) -> bool:
    """Write the outcome only while this worker still holds the lease."""
    fields.update(lease_owner="", lease_expires_at=None)
    return Delivery.objects.filter(pk=delivery.pk, lease_owner=worker, status=S.DELIVERING).update(**fields) == 1


def deliver(delivery_id: int) -> str:
    """Make one attempt at a delivery. Returns a word for the worker log."""
    worker = worker_name()
    if not claim(delivery_id, worker):
        return "not-claimed"  # done, not due, gone, or another worker has it
    delivery = Delivery.objects.select_related("event", "endpoint__instance").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"  # its instance was deleted meanwhile
    endpoint = delivery.endpoint
    now = timezone.now()
    if not endpoint.enabled or endpoint.disabled_at or not endpoint.url:
        _release(delivery, worker, status=S.SKIPPED, next_attempt_at=None,
                 last_error="Events were turned off for this instance, or its endpoint was disabled.")
        return "skipped"
    blocker = earlier_unfinished(delivery)
    if blocker is not None:
        # Wait for the earlier event of this record; its end sends this one (send_next_of_record).
        wait_until = max(blocker.next_attempt_at or now, now) + dt.timedelta(seconds=5)
        _release(delivery, worker, status=S.PENDING if delivery.attempts == 0 else S.FAILED,
                 next_attempt_at=wait_until)
        if earlier_unfinished(delivery) is None:
            # The earlier one ended while this was being claimed, too late to send this one on: go now.
            Delivery.objects.filter(pk=delivery.pk, status__in=WAITING).update(next_attempt_at=now)
            enqueue_delivery(delivery.pk)
        return "waiting"
    outcome = _attempt(delivery, endpoint, now)
    return _record(delivery, endpoint, worker, now, outcome)


def _attempt(delivery: Delivery, endpoint: WebhookEndpoint, now: dt.datetime) -> guard.Outcome:
    event = delivery.event
    signing = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        signing.append(endpoint.previous_secret)
    body = body_of(event.type, event.occurred_at, event.data)
    try:
        target = guard.check_url(endpoint.url)
    except guard.OutboundRefused as exc:
        return guard.Outcome(None, 0, error=str(exc))
    return guard.post(target, body, signed_headers(event.id, body, [str(s) for s in signing], now=now))


def _record(delivery: Delivery, endpoint: WebhookEndpoint, worker: str, started: dt.datetime,
            outcome: guard.Outcome) -> str:
    attempts = delivery.attempts + 1
    error = outcome.error or ("" if outcome.ok else f"The receiver answered {outcome.status_code}.")
    delay: float | None = None
    with transaction.atomic():
        DeliveryAttempt.objects.create(delivery=delivery, started_at=started, status_code=outcome.status_code,
                                       latency_ms=outcome.latency_ms, response_excerpt=outcome.excerpt[:1024],
                                       error=error[:2000])
        common = {"attempts": attempts, "last_status_code": outcome.status_code, "last_error": error[:2000]}
        if outcome.ok:
            result = "succeeded"
            kept = _release(delivery, worker, status=S.SUCCEEDED, succeeded_at=timezone.now(),
                            next_attempt_at=None, **common)
            WebhookEndpoint.objects.filter(pk=endpoint.pk).exclude(failing_since=None).update(failing_since=None)
        else:
            delay = retry_delay(attempts)
            result = "gave-up" if delay is None else "retry"
            next_at = None if delay is None else timezone.now() + dt.timedelta(seconds=delay)
            kept = _release(delivery, worker, status=S.GAVE_UP if delay is None else S.FAILED,
                            next_attempt_at=next_at, **common)
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=started)
        if not kept:
            return "lease-lost"
    _count(delivery, result, attempts)
    if result == "retry" and delay is not None and delay <= COUNTDOWN_LIMIT:
        transaction.on_commit(lambda: enqueue_delivery(delivery.pk, countdown=delay))
    if result != "retry":
        send_next_of_record(delivery)
    if result != "succeeded":
        disable_if_failing_too_long(endpoint.pk)
    return result


def _count(delivery: Delivery, result: str, attempts: int) -> None:
    metrics.webhook_deliveries.labels(result).inc()
    if result != "retry":
        metrics.webhook_attempts.labels(result).observe(attempts)
    if result == "succeeded":
        metrics.webhook_lag.observe(max(0.0, (timezone.now() - delivery.event.occurred_at).total_seconds()))


def send_next_of_record(delivery: Delivery) -> None:
    """The delivery of this record's next event, waiting behind this one, goes now."""
    event = delivery.event
    if not event.record_key:
        return
    nxt = (Delivery.objects.filter(endpoint_id=delivery.endpoint_id, event__instance_id=event.instance_id,
                                   event__record_key=event.record_key, event__sequence__gt=event.sequence,
                                   status__in=WAITING)
           .order_by("event__sequence").first())
    if nxt is not None:
        Delivery.objects.filter(pk=nxt.pk, status__in=WAITING).update(next_attempt_at=timezone.now())
        enqueue_delivery(nxt.pk)


def disable_if_failing_too_long(endpoint_id: int) -> bool:
    """Disable an endpoint failing for WEBHOOK_DISABLE_AFTER_DAYS and tell its people; True when it did."""
    now = timezone.now()
    cutoff = now - dt.timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
    reason = (f"Disabled after failing for {settings.WEBHOOK_DISABLE_AFTER_DAYS} days without a successful "
              "delivery.")
    changed = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True, failing_since__lte=cutoff).update(
        enabled=False, disabled_at=now, disabled_reason=reason)
    if changed != 1:
        return False
    endpoint = WebhookEndpoint.objects.select_related("instance").get(pk=endpoint_id)
    instance = endpoint.instance
    record("webhooks.disabled", instance, data={"reason": reason})
    notify(recipients(instance), instance=instance, kind="webhook_disabled",
           message=f"Webhooks of {instance.name} were turned off: the callback URL kept failing for "
                   f"{settings.WEBHOOK_DISABLE_AFTER_DAYS} days.",
           link=reverse("events:settings", args=[instance.pk]))
    return True


def due_delivery_ids(limit: int = SWEEP_BATCH) -> list[int]:
    """Deliveries a worker should take now: due retries, expired leases, and new ones whose
    message was lost (a new delivery is queued as its event commits, so the sweep leaves it a
    minute rather than queue it twice)."""
    now = timezone.now()
    lost = Q(status=S.PENDING, next_attempt_at__isnull=True, created_at__lte=now - dt.timedelta(seconds=60))
    due = Q(status__in=WAITING, next_attempt_at__lte=now) | Q(status=S.DELIVERING, lease_expires_at__lte=now)
    return list(Delivery.objects.filter(due | lost).order_by("next_attempt_at", "pk")
                .values_list("pk", flat=True)[:limit])


def failing_endpoint_ids() -> list[int]:
    cutoff = timezone.now() - dt.timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
    return list(WebhookEndpoint.objects.filter(enabled=True, failing_since__lte=cutoff).values_list("pk", flat=True))


def redeliver(delivery: Delivery) -> None:
    """Send a delivery again from the start of its retry schedule (same webhook-id)."""
    Delivery.objects.filter(pk=delivery.pk).exclude(status=S.DELIVERING).update(
        status=S.PENDING, attempts=0, next_attempt_at=timezone.now(), succeeded_at=None)
    transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
