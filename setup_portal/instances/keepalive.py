"""Keeping instances alive: token refreshes, health checks and secret-expiry reminders.

Plain functions; tasks.py wraps them for Celery. The planners walk the
instances by primary key in batches (keyset pagination, never OFFSET), so 10,000
instances cost 10,000/BATCH_SIZE small queries and as many tasks, each of which re-reads
its rows and quietly skips the ones that were disabled or deleted meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.azure.client import AzureError
from setup_portal.azure.errors import explain, reauthentication_code
from setup_portal.dataverse.client import DataverseError, who_am_i
from setup_portal.teams import permissions

from . import lifecycle, state
from .models import HealthCheck, Instance
from .provisioning import StepFailed, checked_url
from .tokens import acquire_token_for_instance

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# Refresh this long before the access token expires, so callers never hold a dead token.
REFRESH_AHEAD = dt.timedelta(minutes=10)
HEALTH_CHECK_EVERY = dt.timedelta(hours=1)
REMINDER_DAYS = (30, 7, 1)
KEPT_ALIVE = [Instance.Status.READY]


def kept_alive() -> QuerySet[Instance]:
    """Ready instances that are real: seeded ones (seed_instances) have made-up Dynamics URLs."""
    return Instance.objects.filter(status__in=KEPT_ALIVE, seeded=False)


def id_batches(queryset: QuerySet[Instance], size: int = BATCH_SIZE) -> Iterator[list[str]]:
    """Primary keys of `queryset` in ascending batches, each fetched with `pk > last` (keyset)."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        ids = list(page.values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield [str(i) for i in ids]
        last = ids[-1]


def due_for_refresh(now: dt.datetime | None = None) -> QuerySet[Instance]:
    now = now or timezone.now()
    return kept_alive().filter(
        Q(access_token_expires_at__isnull=True) | Q(access_token_expires_at__lte=now + REFRESH_AHEAD))


def due_for_health_check(now: dt.datetime | None = None) -> QuerySet[Instance]:
    now = now or timezone.now()
    return kept_alive().filter(
        Q(health_checked_at__isnull=True) | Q(health_checked_at__lte=now - HEALTH_CHECK_EVERY))


def due_for_reminder(today: dt.date | None = None) -> QuerySet[Instance]:
    today = today or timezone.localdate()
    return (Instance.objects.exclude(status__in=[Instance.Status.DELETED, Instance.Status.DISABLED])
            .filter(seeded=False, secret_expires_on__gte=today,
                    secret_expires_on__lte=today + dt.timedelta(days=max(REMINDER_DAYS))))


def refresh_token(instance_id: str) -> str:
    """Refresh one instance's access token ahead of expiry; returns what happened (for logs).

    The row stays locked from the "is it still due?" check to the saved new token, so two
    refreshes (two beats, or a worker and a web request) never both spend the refresh
    token: the second waits, sees a fresh token and stops.
    """
    try:
        with transaction.atomic():
            inst = kept_alive().select_for_update().filter(pk=instance_id).first()
            if inst is None:
                return "skipped"
            expires = inst.access_token_expires_at
            if expires is not None and expires > timezone.now() + REFRESH_AHEAD:
                return "fresh"
            acquire_token_for_instance(inst, force_refresh=True)
    except AzureError as exc:
        code = reauthentication_code(exc.code, exc.description)
        if code:
            state.mark_needs_reauth(instance_id, code=code, acting_user=None)
            return "needs_reauth"
        log.warning("Token refresh for instance %s failed: %s", instance_id, exc.code)
        return "failed"
    return "refreshed"


def check_health(instance_id: str, *, triggered_by_id: int | None = None) -> HealthCheck | None:
    """One WhoAmI round trip with the instance's token, recorded as a HealthCheck.

    The Dynamics URL passes the same guard as provisioning first: a URL that is no longer
    allowed (the sandbox was switched off, or the row names another host) is not called,
    and the check records why.
    """
    inst = Instance.objects.filter(pk=instance_id, seeded=False).first()
    if inst is None or inst.status in {Instance.Status.DELETED, Instance.Status.PROVISIONING}:
        return None
    started = time.monotonic()
    ok, detail, code = True, "", ""
    try:
        url = checked_url(inst)
        token = acquire_token_for_instance(inst)
        who = who_am_i(url, token.access_token)
        detail = f"WhoAmI answered as user {who.get('UserId', '?')}."
    except StepFailed as exc:
        ok, code = False, exc.code
        detail = f"{explain(code).title}: {exc.message} Keep-alive did not call it."
    except AzureError as exc:
        ok, code = False, reauthentication_code(exc.code, exc.description) or exc.code
        detail = explain(code).title
    except DataverseError as exc:
        # The catalogue's code, so the page can say what to do; Dataverse's own code stays in the detail.
        ok, code = False, exc.catalogue_code
        detail = f"Dataverse answered {exc.status}{f' ({exc.code})' if exc.code else ''}: {exc.message}"
    duration_ms = int((time.monotonic() - started) * 1000)
    triggered_by = get_user_model().objects.filter(pk=triggered_by_id).first() if triggered_by_id else None
    return state.record_health_check(inst.pk, ok=ok, detail=detail, error_code=code, duration_ms=duration_ms,
                                     acting_user=triggered_by)


def reminder_due(expires_on: dt.date, sent: list[int], today: dt.date) -> int | None:
    """The reminder (30, 7 or 1 days) to send today, or None; a late start sends only the nearest one."""
    days_left = (expires_on - today).days
    crossed = [d for d in REMINDER_DAYS if days_left <= d]
    if not crossed or min(crossed) in sent:
        return None
    return min(crossed)


def reminder_emails(inst: Instance) -> list[str]:
    """The owner's address and those of the instance's team's team leads."""
    return sorted({user.email for user in permissions.people_to_tell(inst) if user.email})


def send_secret_reminders(instance_ids: list[str], *, today: dt.date | None = None) -> int:
    """Send the due expiry reminders for these instances; each (expiry date, threshold) at most once."""
    today = today or timezone.localdate()
    sent = 0
    for instance_id in instance_ids:
        claimed = _claim_reminder(instance_id, today)
        if claimed is None:
            continue
        inst, days = claimed
        recipients = reminder_emails(inst)
        if not recipients:
            continue
        context = {"instance": inst, "days": days, "days_left": (inst.secret_expires_on - today).days,
                   "url": f"{settings.PORTAL_BASE_URL}/instances/{inst.pk}/rotate-secret/"}
        subject = render_to_string("instances/email/secret_reminder_subject.txt", context).strip()
        body = render_to_string("instances/email/secret_reminder.txt", context)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        sent += 1
    return sent


def _claim_reminder(instance_id: str, today: dt.date) -> tuple[Instance, int] | None:
    """Mark the due reminder as sent under the row lock before sending: at most once, even with two beats."""
    with transaction.atomic():
        inst = (Instance.objects.select_for_update().select_related("owner")
                .filter(pk=instance_id, seeded=False)
                .exclude(status__in=[Instance.Status.DELETED, Instance.Status.DISABLED])
                .first())
        if inst is None or inst.secret_expires_on is None:
            return None
        key = inst.secret_expires_on.isoformat()
        already = list(inst.reminders_sent.get(key, []))
        days = reminder_due(inst.secret_expires_on, already, today)
        if days is None:
            return None
        crossed = [d for d in REMINDER_DAYS if (inst.secret_expires_on - today).days <= d]
        inst.reminders_sent = {key: sorted(set(already) | set(crossed), reverse=True)}
        inst.save(update_fields=["reminders_sent"])
        record("instance.secret_reminder_sent", inst, data={"expires_on": key, "days": days})
        lifecycle.emit_secret_expiring(inst, days=days, days_left=(inst.secret_expires_on - today).days)
    return inst, days
