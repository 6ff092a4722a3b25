"""The notifications page (grouped entries, filtered by instance and kind) and reading them. Muting an
instance (a button on its page and on this one) is the instances' page: instances/mute_views.py."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .forms import NotificationFilter
from .models import NOTIFICATION_KINDS
from .notifications import mark_read, muted_instances, notifications_of

PAGE_SIZE = 50


def _filter(request: HttpRequest, data) -> tuple[NotificationFilter, dict[str, str]]:
    rows = notifications_of(request.user).exclude(instance=None)
    instances = sorted({(str(pk), name) for pk, name in rows.values_list("instance_id", "instance__name")},
                       key=lambda choice: choice[1].lower())
    form = NotificationFilter(data, instances=instances, kinds=NOTIFICATION_KINDS)
    return form, form.chosen()


@require_GET
@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    form, chosen = _filter(request, request.GET)
    rows = notifications_of(request.user).filter(**chosen).select_related("instance")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    muted = list(muted_instances(request.user))
    return render(request, "events/notifications.html", {
        "page": page, "filter": form, "filtered": bool(chosen), "muted": muted,
        "muted_ids": {m.instance_id for m in muted}})


@require_POST
@login_required
def read_notification(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one read and go to where it is fixed."""
    note = get_object_or_404(notifications_of(request.user), pk=notification_id)
    mark_read(notifications_of(request.user).filter(pk=note.pk))
    if note.link and url_has_allowed_host_and_scheme(note.link, allowed_hosts=None):
        return redirect(note.link)
    return redirect("events:notifications")


@require_POST
@login_required
def read_all_notifications(request: HttpRequest) -> HttpResponse:
    """Mark read every entry the page shows: all of them, or those its filter picks."""
    form, chosen = _filter(request, request.POST)
    count = mark_read(notifications_of(request.user).filter(**chosen))
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    query = urlencode({"instance": chosen.get("instance_id", ""), "kind": chosen.get("kind", "")}) if chosen else ""
    return redirect(reverse("events:notifications") + (f"?{query}" if query else ""))
