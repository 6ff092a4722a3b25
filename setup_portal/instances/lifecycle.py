"""Lifecycle events: what state.py's transition() changed, as instance.* events (events.models.LifecycleType).

`on_transition` runs inside the state change's transaction (transition() calls it after the
save), so an event exists exactly when its change commits, and its delivery is enqueued on
commit. Payloads say what the instance is and what changed, never a credential.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from setup_portal.events.actions import emit_event
from setup_portal.events.models import LifecycleType as Type
from setup_portal.events.models import PollState, RealtimeHook
from setup_portal.events.notifications import notify
from setup_portal.teams import permissions

from . import polling_settings
from .models import Instance

log = logging.getLogger(__name__)
Status, Health = Instance.Status, Instance.Health


def snapshot(inst: Instance) -> dict:
    """The state fields lifecycle events compare, before a change."""
    if inst._state.adding:
        return {}
    return {"status": inst.status, "health": inst.health, "review_state": inst.review_state}


def _status_event(before: str, after: str) -> str | None:
    if before == after:
        return None
    if after == Status.READY:
        return Type.ENABLED if before == Status.DISABLED else Type.READY
    named = {Status.FAILED: Type.FAILED, Status.NEEDS_REAUTH: Type.NEEDS_REAUTH, Status.DISABLED: Type.DISABLED,
             Status.DELETED: Type.DELETED}
    if after in named:
        return named[after]
    if before == Status.DISABLED:
        return Type.ENABLED  # enabled back into a state that has no event of its own
    return None


def _health_event(before: str, after: str) -> str | None:
    if before == after:
        return None
    if after == Health.FAILING:
        return Type.HEALTH_FAILING
    if before == Health.FAILING and after == Health.HEALTHY:
        return Type.HEALTH_RECOVERED
    return None


def describe(inst: Instance, *, name: str | None = None) -> dict:
    """The instance as every lifecycle payload shows it (no credentials, no tokens)."""
    return {"id": str(inst.pk), "name": name or inst.name, "status": inst.status, "health": inst.health,
            "review_state": inst.review_state, "dynamics_url": inst.dynamics_url}


def on_transition(inst: Instance, before: dict, *, data: dict | None = None) -> None:
    """Emit the lifecycle events for a change from `before` (snapshot()) to `inst`'s state now."""
    if not before:
        return  # a new instance: its first event is instance.ready (or failed) when provisioning ends
    data = data or {}
    changes = []
    status_type = _status_event(before["status"], inst.status)
    if status_type:
        detail = {"from": before["status"], "to": inst.status}
        if inst.status in (Status.FAILED, Status.NEEDS_REAUTH):
            detail.update(code=inst.status_code, reason=inst.status_detail)
        if inst.status == Status.DISABLED and data.get("reason"):
            detail["reason"] = data["reason"]
        changes.append((status_type, detail))
    health_type = _health_event(before["health"], inst.health)
    if health_type:
        changes.append((health_type, {"from": before["health"], "to": inst.health, "detail": inst.health_detail,
                                      "checked_at": _iso(inst.health_checked_at)}))
    if before["review_state"] != inst.review_state:
        changes.append((Type.REVIEW_CHANGED, {
            "from": before["review_state"], "to": inst.review_state, "comment": inst.review_comment,
            "reviewed_by": inst.reviewed_by.get_username() if inst.reviewed_by_id else ""}))
    # A deleted instance's row keeps an erased name; the payload says the name it had.
    name = data.get("name") if inst.status == Status.DELETED else None
    for event_type, detail in changes:
        _emit(inst, event_type, {"instance": describe(inst, name=name), **detail})
        if event_type in NOTIFY:
            transaction.on_commit(functools.partial(_notify, inst.pk, event_type))
    if _waits_for_review(status_type, inst, before):
        transaction.on_commit(functools.partial(_notify_review_waiting, inst.pk, inst.review_state))
    if before["review_state"] != inst.review_state == Instance.Review.CHANGES_REQUESTED:
        transaction.on_commit(functools.partial(_notify_changes_requested, inst.pk, inst.reviewed_at))
    _follow_polling_settings(inst, before, data)


POLLING_SETTINGS = {"polling_enabled", "polling_resources", "polling_interval_minutes"}


def _follow_polling_settings(inst: Instance, before: dict, data: dict) -> None:
    """A saved change of what is polled, or how often, applies at once: every table is due now (a
    new table gets its baseline, then the new interval counts). A status or polling change also
    makes the real-time registration follow (registered while Ready, removed when disabled or deleted)."""
    changed = set(data.get("changes") or {}) & POLLING_SETTINGS
    if changed:
        transaction.on_commit(functools.partial(_poll_due_now, inst.pk))
    if (changed or before["status"] != inst.status) and RealtimeHook.objects.filter(instance=inst).exists():
        polling_settings.enqueue_sync(inst.pk)


def _poll_due_now(instance_id) -> None:
    PollState.objects.filter(instance_id=instance_id).update(next_poll_at=timezone.now())


def _waits_for_review(status_type: str | None, inst: Instance, before: dict) -> bool:
    """Ready and never reviewed, or resubmitted after a change request: the team leads' turn."""
    if inst.status != Status.READY:
        return False
    if status_type == Type.READY and inst.review_state == Instance.Review.PENDING:
        return True
    return (inst.review_state == Instance.Review.RESUBMITTED
            and before["review_state"] != Instance.Review.RESUBMITTED)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _emit(inst: Instance, event_type: str, data: dict, **kwargs) -> None:
    # A savepoint (inside emit_event) and a catch: a fault in the events app must never undo or
    # block the state change itself, which is what the person or the worker was doing.
    try:
        emit_event(inst, event_type, data, **kwargs)
    except Exception:
        log.exception("Could not record the %s event of instance %s", event_type, inst.pk)


def emit_secret_expiring(inst: Instance, *, days: int, days_left: int) -> None:
    """instance.secret_expiring, once per (expiry date, reminder threshold) like the e-mail reminder."""
    expires = inst.secret_expires_on.isoformat() if inst.secret_expires_on else ""
    _emit(inst, Type.SECRET_EXPIRING,
          {"instance": describe(inst), "expires_on": expires, "days_left": days_left, "reminder_days": days},
          dedupe_key=f"{Type.SECRET_EXPIRING.value}:{expires}:{days}")


# Lifecycle events whose people are told too (e-mail and the portal's bell), besides the webhook.
NOTIFY = {
    Type.NEEDS_REAUTH: ("needs_reauth", "{name} needs re-authentication: {reason}"),
    Type.HEALTH_FAILING: ("health_failing", "{name} failed its health check: {reason}"),
}


def _notify(instance_id, event_type: str) -> None:
    inst = Instance.objects.filter(pk=instance_id).first()
    if inst is None:
        return
    kind, template = NOTIFY[event_type]
    reason = (inst.status_detail if event_type == Type.NEEDS_REAUTH else inst.health_detail) or "no detail"
    message = template.format(name=inst.name, reason=reason)[:500]
    link = reverse("instances:detail", args=[inst.pk])
    try:
        notify(permissions.people_to_tell(inst), instance=inst, kind=kind, message=message, link=link)
    except Exception:
        log.exception("Could not notify about %s of instance %s", event_type, inst.pk)


REVIEW_MESSAGES = {
    Instance.Review.PENDING: "{name} is ready and waits for your review.",
    Instance.Review.RESUBMITTED: "{name} was changed after a change request and waits for your review again.",
}


def _notify_review_waiting(instance_id, review_state: str) -> None:
    """Tell the instance's team's team leads (bell and e-mail) that it waits for their review.

    Resubmitted: the team lead who asked for the changes is told by instances/notifications.py,
    with what changed, so not here too (one e-mail per resubmission)."""
    inst = Instance.objects.filter(pk=instance_id).first()
    if inst is None or inst.review_state != review_state:
        return  # reviewed (or changed) before this commit's hook ran: nothing waits any more
    leads = permissions.team_leads(inst.team_id)
    if review_state == Instance.Review.RESUBMITTED and inst.reviewed_by_id:
        leads = leads.exclude(pk=inst.reviewed_by_id)
    message = REVIEW_MESSAGES[review_state].format(name=inst.name)
    try:
        notify(leads, instance=inst, kind="review_waiting", message=message,
               link=reverse("instances:detail", args=[inst.pk]))
    except Exception:
        log.exception("Could not tell the team leads that instance %s waits for review", inst.pk)


def _notify_changes_requested(instance_id, reviewed_at: dt.datetime | None) -> None:
    """Tell the instance's owner (bell and e-mail) that a team lead asked for changes, and which."""
    inst = Instance.objects.select_related("owner", "reviewed_by").filter(pk=instance_id).first()
    if inst is None or inst.review_state != Instance.Review.CHANGES_REQUESTED or inst.reviewed_at != reviewed_at:
        return  # edited or reviewed again before this commit's hook ran
    if inst.owner is None or not inst.owner.is_active:
        return
    lead = inst.reviewed_by.get_username() if inst.reviewed_by else "A team lead"
    try:
        notify([inst.owner], instance=inst, kind="changes_requested",
               message=f"{lead} asked for changes to {inst.name}.",
               detail=f"Their comment:\n\n  {inst.review_comment}" if inst.review_comment else "",
               link=reverse("instances:detail", args=[inst.pk]))
    except Exception:
        log.exception("Could not tell the owner of instance %s that changes were requested", inst.pk)
