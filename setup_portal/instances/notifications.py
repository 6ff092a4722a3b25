"""About reviews: the team lead who asked for changes hears (bell and e-mail) when the instance is
back, with what changed. The other team leads are told it waits for review by lifecycle.py."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from setup_portal.events.notifications import notify

from .models import Instance

# What the e-mail calls each edited setting.
FIELD_LABELS = {
    "name": "Name", "tags": "Tags", "polling_enabled": "Polling", "polling_resources": "Resources to poll",
    "polling_interval_minutes": "Polling interval (minutes)", "filter_nulls": "Leave out null fields",
    "trace_logging": "Trace logging",
}


def shown(value) -> str:
    """A setting's value in words: on/off, a comma-separated list, "-" for nothing."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value in (None, "") else str(value)


def send_resubmitted_notice(instance_id: str, changes: dict[str, dict]) -> bool:
    """Tell the team lead who asked for changes that the instance was edited and awaits them again.

    False (nobody told) when the instance is gone, was reviewed again meanwhile, the team lead's
    account is off, or they muted the instance.
    """
    inst = Instance.objects.select_related("reviewed_by").filter(pk=instance_id).first()
    if inst is None or inst.review_state != Instance.Review.RESUBMITTED or inst.reviewed_by is None:
        return False
    lead = inst.reviewed_by
    if not lead.is_active:
        return False
    detail = render_to_string("instances/email/resubmitted.txt", {
        "instance": inst, "changes": [(FIELD_LABELS.get(k, k), shown(v.get("from")), shown(v.get("to")))
                                      for k, v in changes.items()]})
    return bool(notify([lead], instance=inst, kind="review_waiting",
                       message=f"{inst.name} was changed and is back for your review.",
                       detail=detail.strip(), link=reverse("instances:detail", args=[inst.pk])))
