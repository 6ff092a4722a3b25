"""Muting an instance (URL names events:mute_instance and events:unmute_instance, instances/webhook_urls.py):
a person who mutes one gets no bell entry and no e-mail about it (events/notifications.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from setup_portal.events.notifications import do_mute_instance, do_unmute_instance

from .access import instance_for


@require_POST
@login_required
def mute_instance(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request.user, instance_id)
    do_mute_instance(inst, acting_user=request.user)
    messages.success(request, f"Muted {inst.name}: you get no notifications or e-mail about it until you unmute it.")
    return _back(request, inst)


@require_POST
@login_required
def unmute_instance(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request.user, instance_id)
    do_unmute_instance(inst, acting_user=request.user)
    messages.success(request, f"Unmuted {inst.name}: you hear about it again.")
    return _back(request, inst)


def _back(request: HttpRequest, inst) -> HttpResponse:
    """To the page the form was on (the instance page or the notifications page)."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("instances:detail", inst.pk)
