"""Admins edit an instance's settings (a new instance token: token_views.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from setup_portal.teams import permissions

from . import actions
from .forms import EditInstanceForm
from .views import instance_for


@require_http_methods(["GET", "POST"])
@login_required
def edit(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    form = EditInstanceForm(request.POST if request.method == "POST" else None, instance=inst)
    if request.method == "GET" or not form.is_valid():
        return render(request, "instances/edit.html", {"inst": inst, "form": form},
                      status=400 if request.method == "POST" else 200)
    was_asked = inst.review_state == inst.Review.CHANGES_REQUESTED
    try:
        changes = actions.do_update_instance(inst, **form.changes(), acting_user=request.user)
    except actions.InstanceNameTaken as exc:
        form.add_error("name", str(exc))
        return render(request, "instances/edit.html", {"inst": inst, "form": form}, status=400)
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return redirect("instances:detail", instance_id=inst.pk)
    if not changes:
        messages.info(request, "Nothing changed.")
    elif was_asked and inst.reviewed_by is not None:
        messages.success(request, f"Saved. {inst.reviewed_by.get_username()} asked for changes, so the instance "
                                  "is back with them for review; they get an e-mail.")
    else:
        messages.success(request, "Saved.")
    return redirect("instances:detail", instance_id=inst.pk)
