"""The instance token on the pages: issue a new one, show a new one to whoever issued it, confirm it was copied.

A new token is never part of a page: the page offers "Show token" to the person it is held for
(token_reveal.py), whose POST answers with the token and `Cache-Control: no-store`, as a fragment
for htmx or as a page of its own without JavaScript. "I have copied it" erases it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods, require_POST

from setup_portal.teams import permissions

from . import actions, token_reveal
from .views import _is_htmx, instance_for

GONE = "No new instance token is waiting for you here: it was confirmed, replaced by a newer one, or its day is over."


@require_http_methods(["GET", "POST"])
@login_required
def issue_token(request: HttpRequest, instance_id) -> HttpResponse:
    """Confirm, then issue; the instance page then offers the new token to its issuer."""
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    if request.method == "GET" or request.POST.get("confirmed") != "yes":
        return render(request, "instances/issue_token.html", {"inst": inst, "hours": token_reveal.REVEAL_HOURS})
    try:
        actions.do_issue_instance_token(inst, acting_user=request.user)
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return redirect("instances:detail", instance_id=inst.pk)
    messages.success(request, "A new instance token was issued; the previous one no longer works. "
                              "Show it below, copy it into your applications, then confirm.")
    return redirect("instances:detail", instance_id=inst.pk)


def _no_token(request: HttpRequest) -> HttpResponse:
    """404, as for a token that never was; a stale htmx button reloads its page instead."""
    if _is_htmx(request):
        return HttpResponse(GONE, status=404, headers={"HX-Refresh": "true"})
    return render(request, "404.html", {"exception": GONE}, status=404)


@require_POST
@login_required
def reveal_token(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    token = token_reveal.do_reveal_instance_token(inst, acting_user=request.user)
    if token is None:
        return _no_token(request)
    ctx = {"inst": inst, "token_state": "shown", "token": token, "token_until": inst.token_reveal_until}
    if _is_htmx(request):
        response = HttpResponse(render_to_string("instances/_token_reveal.html", ctx, request))
    else:
        response = render(request, "instances/token_reveal.html", ctx)
    response["Cache-Control"] = "no-store"  # the token must not come back from a cache
    return response


@require_POST
@login_required
def confirm_token(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    if not token_reveal.do_confirm_instance_token(inst, acting_user=request.user):
        return _no_token(request)
    if _is_htmx(request):
        return render(request, "instances/_token_reveal.html", {"inst": inst, "token_state": "confirmed"})
    messages.success(request, "Done: the new instance token is erased from the portal, which keeps only its "
                              "fingerprint.")
    return redirect("instances:detail", instance_id=inst.pk)
