"""The instance page's polling panel data, so the instance view itself needs no change."""

from __future__ import annotations

from django import template
from django.conf import settings

from setup_portal.crm.resources import RESOURCES
from setup_portal.events.models import PollState, RealtimeHook
from setup_portal.instances.polling_settings import realtime_tables

from ..poller import explain_poll_error

register = template.Library()
_NAMES = {r.entity_set: r.name for r in RESOURCES.values()}


@register.simple_tag
def poll_summary(inst) -> dict:
    """Last and next poll, changes found, and each table's last error in plain words."""
    states = list(PollState.objects.filter(instance=inst).order_by("table"))
    hook = RealtimeHook.objects.filter(instance=inst).first()
    pushed = realtime_tables(inst)
    tables = []
    for s in states:
        tables.append({"realtime": s.table in pushed,
            "name": _NAMES.get(s.table, s.table), "mode": s.mode, "last_poll_at": s.last_poll_at,
            "next_poll_at": s.next_poll_at, "changes_found": s.changes_found, "total_changes": s.total_changes,
            "baseline_at": s.baseline_at, "rebaselined_at": s.rebaselined_at, "polling_now": bool(s.lease_owner),
            "error": explain_poll_error(s.last_error_code) if s.last_error_code else None,
            "error_detail": s.last_error_detail,
        })
    # One explanation per distinct error: a throttled poll postpones every table with the same words.
    groups: dict[tuple, dict] = {}
    for t in tables:
        if t["error"]:
            group = groups.setdefault((t["error"].code, t["error_detail"]),
                                      {"error": t["error"], "detail": t["error_detail"], "tables": []})
            group["tables"].append(t["name"])
    last = [s.last_poll_at for s in states if s.last_poll_at]
    upcoming = [s.next_poll_at for s in states if s.next_poll_at]
    return {"tables": tables, "last_poll_at": max(last, default=None), "next_poll_at": min(upcoming, default=None),
            "changes_found": sum(s.changes_found for s in states),
            "total_changes": sum(s.total_changes for s in states), "errors": list(groups.values()),
            "realtime": hook, "realtime_on": bool(pushed),
            "reconcile_minutes": max(inst.polling_interval_minutes, settings.EVENTS_RECONCILE_MINUTES),
            # What the last reconciliation poll found that no push had brought (a push was lost).
            "reconciled": sum(s.changes_found for s in states if s.table in pushed)}
