"""An instance's webhook pages (URL names `events:…`, instances/webhook_urls.py): its webhook settings
and delivery log, and its polling panel's buttons (poll now, real-time on or off, rotate the hook key).

Admins change settings, rotate the signing secret, redeliver and send test events; team leads
see the settings and the log read-only and never a secret (setup_portal/teams/permissions.py decides).
The notifications' pages stay with the events (events/notification_views.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from setup_portal.events import endpoints
from setup_portal.events.forms import DeliveryFilter, EndpointForm
from setup_portal.events.models import Delivery, DeliveryAttempt
from setup_portal.events.secret_reveal import mark_secret_for_reveal, take_secret_reveal
from setup_portal.teams import permissions

from . import polling_settings
from .views import instance_for

PAGE_SIZE = 50


@require_http_methods(["GET", "POST"])
@login_required
def settings_page(request: HttpRequest, instance_id) -> HttpResponse:
    # A deleted instance has no endpoint (its delete forgot it), and opening this page must not make one.
    inst = instance_for(request, instance_id, live=True)
    can_change = permissions.can_change_instance(request.user, inst)
    endpoint = endpoints.endpoint_of(inst)
    if request.method == "POST":
        permissions.check(permissions.can_change_instance, request.user, inst)
        if "use_sandbox" in request.POST:
            return _use_sandbox_bin(request, inst, endpoint)
        form = EndpointForm(request.POST)
        if form.is_valid():
            values = form.endpoint_settings()
            if not values["enabled"]:  # turning events off keeps the URL and types for next time
                values["url"] = values["url"] or endpoint.url
                if "lifecycle_types" not in request.POST:
                    values["lifecycle_types"] = list(endpoint.lifecycle_types or [])
            endpoints.do_update_endpoint(inst, **values, acting_user=request.user)
            messages.success(request, "Events settings saved.")
            return redirect("events:settings", instance_id=inst.pk)
    else:
        form = EndpointForm(initial=EndpointForm.initial_from(endpoint))
    overlap_until = endpoint.previous_secret_until
    context = {"inst": inst, "endpoint": endpoint, "form": form, "can_change": can_change,
               "new_secret": take_secret_reveal(request, endpoint) if can_change else "",
               "rotation_active": bool(overlap_until and overlap_until > timezone.now()),
               "sandbox_bin_page": endpoints.sandbox_bin_page(endpoint.url) if endpoint.url else None}
    return render(request, "events/settings.html", context, status=400 if request.method == "POST" else 200)


def _use_sandbox_bin(request: HttpRequest, inst, endpoint) -> HttpResponse:
    if not inst.use_sandbox:
        messages.error(request, "Only instances on the sandbox tenant can send to a sandbox bin.")
        return redirect("events:settings", instance_id=inst.pk)
    endpoints.do_update_endpoint(inst, enabled=True, url=endpoints.new_sandbox_bin_url(),
                                 lifecycle_types=list(endpoint.lifecycle_types or []), acting_user=request.user)
    messages.success(request, "Events now go to a fresh bin of the sandbox's webhook inspector.")
    return redirect("events:settings", instance_id=inst.pk)


@require_POST
@login_required
def rotate_secret(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    endpoint = endpoints.do_rotate_webhook_secret(inst, acting_user=request.user)
    mark_secret_for_reveal(request, endpoint.pk)
    messages.success(request, "New signing secret made. Both secrets sign every delivery for the next 24 hours.")
    return redirect("events:settings", instance_id=inst.pk)


@require_GET
@login_required
def deliveries(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id)
    filters = DeliveryFilter(request.GET or None)
    rows = (Delivery.objects.filter(event__instance=inst).select_related("event")
            .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("-started_at", "-id")))
            .order_by("-event__sequence", "-pk"))
    if filters.is_valid() and filters.cleaned_data.get("status"):
        rows = rows.filter(status=filters.cleaned_data["status"])
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    endpoint = getattr(inst, "webhook_endpoint", None)
    return render(request, "events/deliveries.html", {
        "inst": inst, "page": page, "filters": filters, "endpoint": endpoint,
        "can_change": permissions.can_change_instance(request.user, inst),
        "status_value": filters.cleaned_data.get("status", "") if filters.is_valid() else ""},
        status=200 if filters.is_valid() or not request.GET else 400)


@require_POST
@login_required
def redeliver(request: HttpRequest, instance_id, delivery_id: int) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    found = get_object_or_404(Delivery.objects.select_related("event__instance"), pk=delivery_id, event__instance=inst)
    if found.status == Delivery.Status.DELIVERING:
        messages.info(request, "That delivery is being sent right now.")
    else:
        endpoints.do_redeliver(found, acting_user=request.user)
        messages.success(request, f"Redelivering {found.event.type} ({found.event_id}).")
    return redirect("events:deliveries", instance_id=inst.pk)


@require_POST
@login_required
def send_test_event(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    endpoint = getattr(inst, "webhook_endpoint", None)
    if endpoint is None or not endpoint.enabled or not endpoint.url:
        messages.error(request, "Turn events on with a callback URL first.")
        return redirect("events:settings", instance_id=inst.pk)
    event = endpoints.do_send_test_event(inst, acting_user=request.user)
    messages.success(request, f"Test event {event.pk if event else ''} queued.")
    return redirect("events:deliveries", instance_id=inst.pk)


@require_POST
@login_required
def poll_now(request: HttpRequest, instance_id) -> HttpResponse:
    """Poll every watched table now (besides the schedule); a poll already running makes this one a no-op."""
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    if polling_settings.do_poll_now(inst, acting_user=request.user):
        messages.success(request, "A poll is on its way; the panel shows what it found in a moment.")
    else:
        messages.error(request, "Polling runs only while the instance is Ready with polling on.")
    return redirect(reverse("instances:detail", args=[inst.pk]) + "#polling")


@require_POST
@login_required
def set_realtime(request: HttpRequest, instance_id) -> HttpResponse:
    """Turn real-time delivery (Dataverse's own webhooks, registered by the portal) on or off."""
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    enabled = request.POST.get("enabled") == "1"
    polling_settings.do_set_realtime(inst, enabled, acting_user=request.user)
    messages.success(request, "Real-time delivery is being registered in Dynamics CRM." if enabled else
                     "Real-time delivery is off; its webhook is being removed from Dynamics CRM.")
    return redirect(reverse("instances:detail", args=[inst.pk]) + "#polling")


@require_POST
@login_required
def rotate_hook_key(request: HttpRequest, instance_id) -> HttpResponse:
    """A new key for the webhook Dataverse calls; the previous one works until Dataverse has the new one."""
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    if polling_settings.do_rotate_hook_key(inst, acting_user=request.user):
        messages.success(request, "A new webhook key is being sent to Dynamics CRM; the previous key works until then.")
    else:
        messages.error(request, "Real-time delivery has never been on for this instance: there is no key to rotate.")
    return redirect(reverse("instances:detail", args=[inst.pk]) + "#polling")
