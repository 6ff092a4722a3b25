"""Instance page, review and lifecycle actions.

The dashboard lives in setup_portal/dashboard/, the progress pages in progress_views.py.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.certificates import CredentialKind
from setup_portal.azure.client import AzureError
from setup_portal.azure.errors import explain
from setup_portal.instances import access as instance_access
from setup_portal.teams import permissions
from setup_portal.wizard.history import collapse_attempts

from . import actions, certificate_views, dates, token_reveal
from .lifecycle_forms import DeleteForm, DisableForm, ReviewForm, RotateSecretForm
from .models import Instance, InstanceReview
from .provisioning import STEP_LABELS

CONFIRM_FIELD = "confirmed"


def instance_for(request: HttpRequest, instance_id, allowed=permissions.can_view_instance, *,
                 live: bool = False) -> Instance:
    """The instance the URL names, for a user `allowed` to act on it: 404 when there is none,
    it is another team's (or, with `live`, it was deleted), 403 with the rule's reason when
    the user may see it but not do this."""
    rows = Instance.objects.select_related("owner", "reviewed_by", "setup", "team")
    rows = rows.exclude(status=Instance.Status.DELETED) if live else rows
    return instance_access.instance_for(request.user, instance_id, allowed, rows=rows)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _back_to_instance(request: HttpRequest, inst: Instance, query: str = "") -> HttpResponse:
    url = reverse("instances:detail", args=[inst.pk]) + query
    if _is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


# Instance page --------------------------------------------------------------------------------

@login_required
@require_GET
def detail(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id)
    today = timezone.localdate()
    setup = inst.setup
    stages = collapse_attempts(setup.stage_records.select_related("user"), setup.auth_type) if setup else []
    ctx = {
        "inst": inst, "today": today,
        "countdown": dates.secret_countdown(inst.secret_expires_on, today),
        "stages": stages,
        "jobs": _jobs(inst),
        "checks": inst.health_checks.select_related("triggered_by")[:20],
        "events": AuditEvent.objects.filter(target_type="instance", target_id=str(inst.pk))[:50],
        "reviews": inst.reviews.select_related("reviewer")[:10],
        "open_request": _open_request(inst),
        "can_admin": permissions.can_change_instance(request.user, inst),
        "can_review": permissions.can_review_instance(request.user, inst),
        "review_form": ReviewForm(),
        "pending_since": _pending_since(request, inst),
        "status_explanation": explain(inst.status_code) if inst.status_code else None,
        "trace_on": inst.trace_logging_on(),
        "token_waiting": token_reveal.waiting_for(inst, request.user), "token_hours": token_reveal.REVEAL_HOURS,
    }
    return render(request, "instances/detail.html", ctx)


def _jobs(inst: Instance) -> list:
    jobs = list(inst.jobs.select_related("created_by").prefetch_related("steps"))
    for job in jobs:
        for step in job.steps.all():
            step.label = STEP_LABELS.get(step.key, step.key.replace("_", " ").capitalize())
        job.took_s = ((job.finished_at - job.started_at).total_seconds()
                      if job.started_at and job.finished_at else None)
    return jobs


def _open_request(inst: Instance) -> InstanceReview | None:
    if inst.review_state != Instance.Review.CHANGES_REQUESTED:
        return None
    return inst.reviews.filter(decision=Instance.Review.CHANGES_REQUESTED, resolved_at__isnull=True).first()


def _pending_since(request: HttpRequest, inst: Instance) -> dt.datetime | None:
    """The time a health check was asked for, while no check newer than that exists yet."""
    since = dates.parse_recent_moment(request.GET.get("since", ""), timezone.now())
    if since is None:
        return None
    if inst.health_checked_at and inst.health_checked_at >= since:
        return None
    return since


@login_required
@require_GET
def status_json(request: HttpRequest, instance_id) -> HttpResponse:
    """Live state for polling: JSON for scripts, the status panel as HTML for htmx."""
    inst = instance_for(request, instance_id)
    pending_since = _pending_since(request, inst)
    last = inst.health_checks.first()
    if _is_htmx(request):
        waited = (timezone.now() - pending_since).total_seconds() if pending_since else 0
        response = render(request, "instances/_live_status.html",
                          {"inst": inst, "pending_since": pending_since, "last_check": last, "stalled": waited > 60})
    else:
        response = JsonResponse({
            "id": str(inst.pk), "status": inst.status, "status_display": inst.get_status_display(),
            "status_detail": inst.status_detail, "health": inst.health,
            "health_checked_at": inst.health_checked_at.isoformat() if inst.health_checked_at else None,
            "health_detail": inst.health_detail, "pending": pending_since is not None,
            "last_check": {"ok": last.ok, "checked_at": last.checked_at.isoformat(), "detail": last.detail,
                           "error_code": last.error_code, "duration_ms": last.duration_ms} if last else None,
        })
    response["Vary"] = "HX-Request"
    response["Cache-Control"] = "no-store"
    return response


# Review (team leads) --------------------------------------------------------------------------

@require_POST
@login_required
def approve(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_review_instance)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _detail_with_review_errors(request, inst, form)
    try:
        actions.do_approve_instance(inst, comment=form.cleaned_data["comment"], acting_user=request.user)
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return _back_to_instance(request, inst)
    messages.success(request, f"You approved {inst.name}.")
    return _back_to_instance(request, inst)


@require_POST
@login_required
def request_changes(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_review_instance)
    form = ReviewForm(request.POST)
    if form.is_valid() and not form.cleaned_data["comment"].strip():
        form.add_error("comment", "Say what should change, so the owner knows what to do.")
    if not form.is_valid():
        return _detail_with_review_errors(request, inst, form)
    try:
        actions.do_request_changes(inst, comment=form.cleaned_data["comment"], acting_user=request.user)
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return _back_to_instance(request, inst)
    messages.success(request, f"You asked {inst.owner.get_username()} for changes to {inst.name}.")
    return _back_to_instance(request, inst)


def _detail_with_review_errors(request: HttpRequest, inst: Instance, form: ReviewForm) -> HttpResponse:
    return render(request, "instances/review_form.html", {"inst": inst, "review_form": form}, status=400)


# Lifecycle (admins) ---------------------------------------------------------------------------

def _confirm(request: HttpRequest, inst: Instance, *, action: str, title: str, body: str, button: str,
             danger: bool = False, form=None, status: int = 200) -> HttpResponse:
    """The no-JavaScript confirm step: with JS, htmx asks in a dialog and posts confirmed=yes."""
    return render(request, "instances/confirm.html",
                  {"inst": inst, "action_url": reverse(f"instances:{action}", args=[inst.pk]), "title": title,
                   "body": body, "button": button, "danger": danger, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def test_connection(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance)
    if request.method == "GET" or request.POST.get(CONFIRM_FIELD) != "yes":
        return _confirm(request, inst, action="test_connection", title=f"Test the connection of {inst.name}?",
                        body="The worker signs in with the stored credentials and asks Dataverse “Who am I?”. "
                             "Nothing changes in Dynamics CRM.", button="Test connection now")
    try:
        since = actions.do_request_health_check(inst, acting_user=request.user)
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return _back_to_instance(request, inst)
    if _is_htmx(request):
        return render(request, "instances/_live_status.html",
                      {"inst": inst, "pending_since": since, "last_check": inst.health_checks.first()})
    return redirect(reverse("instances:detail", args=[inst.pk]) + f"?since={since.isoformat()}#live-status")


@require_http_methods(["GET", "POST"])
@login_required
def disable(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance)
    form = DisableForm(request.POST or None)
    if request.method == "GET" or request.POST.get(CONFIRM_FIELD) != "yes" or not form.is_valid():
        return _confirm(request, inst, action="disable", title=f"Disable {inst.name}?", form=form, danger=True,
                        body="Keep-alive stops refreshing its tokens and checking its health, and the instance "
                             "token stops being accepted. Its configuration and history stay; enable it again "
                             "at any time.", button="Disable instance",
                        status=400 if request.method == "POST" and form.errors else 200)
    try:
        actions.do_disable_instance(inst, acting_user=request.user, reason=form.cleaned_data["reason"])
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return _back_to_instance(request, inst)
    messages.success(request, f"{inst.name} is disabled.")
    return _back_to_instance(request, inst)


@require_http_methods(["GET", "POST"])
@login_required
def enable(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance)
    if request.method == "GET" or request.POST.get(CONFIRM_FIELD) != "yes":
        return _confirm(request, inst, action="enable", title=f"Enable {inst.name}?", button="Enable instance",
                        body="Keep-alive resumes: tokens are refreshed and health is checked again.")
    try:
        inst = actions.do_enable_instance(inst, acting_user=request.user)
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return _back_to_instance(request, inst)
    messages.success(request, f"{inst.name} is enabled ({inst.get_status_display().lower()}).")
    return _back_to_instance(request, inst)


@require_http_methods(["GET", "POST"])
@login_required
def rotate_secret(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance)
    if inst.credential_kind == CredentialKind.CERTIFICATE:
        return certificate_views.rotate(request, inst)
    form = RotateSecretForm(request.POST or None)
    ctx = {"inst": inst, "form": form, "countdown": dates.secret_countdown(inst.secret_expires_on,
                                                                             timezone.localdate())}
    if request.method == "GET":
        return render(request, "instances/rotate_secret.html", ctx)
    if not form.is_valid():
        return render(request, "instances/rotate_secret.html", ctx, status=400)
    try:
        actions.do_rotate_client_secret(inst, new_secret=form.cleaned_data["new_secret"],
                                          expires_on=form.cleaned_data["expires_on"], acting_user=request.user)
    except actions.InstanceStateError as exc:
        form.add_error(None, str(exc))
        return render(request, "instances/rotate_secret.html", ctx, status=409)
    except AzureError as exc:
        ctx["refusal"] = explain(exc.code)
        ctx["refusal_code"] = exc.code
        form.add_error("new_secret", "Azure AD refused this secret, so the current one stays in place.")
        return render(request, "instances/rotate_secret.html", ctx, status=400)
    messages.success(request, "Azure AD accepted the new secret; the instance uses it from now on.")
    return redirect("instances:detail", instance_id=inst.pk)


@require_http_methods(["GET", "POST"])
@login_required
def delete(request: HttpRequest, instance_id) -> HttpResponse:
    inst = instance_for(request, instance_id, permissions.can_change_instance)
    form = DeleteForm(request.POST or None, instance_name=inst.name)
    if request.method == "GET":
        return render(request, "instances/delete.html", {"inst": inst, "form": form})
    if not form.is_valid():
        return render(request, "instances/delete.html", {"inst": inst, "form": form}, status=400)
    try:
        actions.do_delete_instance(inst, acting_user=request.user)
    except actions.InstanceStateError as exc:
        messages.error(request, str(exc))
        return redirect("instances:detail", instance_id=inst.pk)
    messages.success(request, f"{inst.name} is deleted: its secret, password and tokens are erased. "
                              "Its history stays in the audit log.")
    return redirect("instances:dashboard")
