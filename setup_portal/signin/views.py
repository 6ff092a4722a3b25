"""The OAuth redirect dance: start (authorize, reauthorize, admin consent) and Azure AD's answers.

All Azure AD traffic and the flows' rows go through the engine (setup_portal.azure), what a sign-in
completes through actions.py; these views only decide where the admin goes.

Azure AD posts a sign-in's answer (response_mode=form_post), so the code never sits in a
URL or an access log. That POST comes from Azure's origin: under SameSite=Lax it carries no
session cookie, so it is matched to its flow by the random, single-use state alone, touches
no session, and answers 303 to a GET of the same page, which the browser sends with the
cookie: that GET shows the outcome (and shows it again on reload).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from setup_portal.azure.client import AzureError, error_from_redirect
from setup_portal.azure.clouds import AuthType
from setup_portal.azure.errors import explain
from setup_portal.azure.flows import (
    ISSUED_STATE,
    do_authorize_without_browser,
    do_start_admin_consent,
    do_start_authorization,
    redirect_uri_for,
)
from setup_portal.azure.models import AuthFlow
from setup_portal.dataverse.client import DataverseError
from setup_portal.instances.access import instance_for
from setup_portal.instances.models import Instance
from setup_portal.teams import permissions
from setup_portal.teams.roles import admin_required
from setup_portal.wizard.access import setup_for
from setup_portal.wizard.models import Setup
from setup_portal.wizard.stages import STAGES

from .actions import do_complete_admin_consent, do_complete_authorization, do_finish_sign_in


def _fix_url(code: str, *, setup: Setup | None, instance: Instance | None,
             stage: str | None = None) -> tuple[str, str]:
    """Where the "fix it" button goes, and its label (`stage`: the wizard stage the request came from)."""
    explanation = explain(code)
    if setup is not None and stage in STAGES:
        return reverse("wizard:stage", kwargs={"setup_id": setup.pk, "stage": stage}), "Try again"
    if instance is not None:
        return reverse("instances:detail", kwargs={"instance_id": instance.pk}), "Back to the instance"
    if setup is not None:
        stage = explanation.fix_stage if explanation.fix_stage in STAGES else "authorize"
        label = "Try again" if stage == "authorize" else f"Go to the {stage.capitalize()} stage"
        return reverse("wizard:stage", kwargs={"setup_id": setup.pk, "stage": stage}), label
    return reverse("home"), "Back to the portal"


def error_page(request: HttpRequest, code: str, detail: str = "", *, setup: Setup | None = None,
               instance: Instance | None = None, stage: str | None = None) -> HttpResponse:
    fix_url, fix_label = _fix_url(code, setup=setup, instance=instance, stage=stage)
    return render(request, "azure/error.html", {
        "explanation": explain(code), "code": code, "detail": detail[:300],
        "fix_url": fix_url, "fix_label": fix_label, "setup": setup, "instance": instance,
    }, status=400)


def _own_draft(request: HttpRequest, setup_id: uuid.UUID) -> Setup:
    setup = setup_for(request.user, setup_id, rows=Setup.objects.filter(status=Setup.Status.DRAFT))
    if not permissions.can_edit_setup(request.user, setup):
        raise PermissionDenied("Only the owner of this setup can authorize it.")
    return setup


@require_POST
@admin_required
def authorize(request: HttpRequest, setup_id: uuid.UUID) -> HttpResponse:
    """Stage 7's "Authorize": sign in for the owner's draft."""
    return _sign_in(request, setup=_own_draft(request, setup_id))


@require_POST
@admin_required
def reauthorize(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    """Run the sign-in again for an existing instance: same id, new authorization, history kept."""
    return _sign_in(request, instance=instance_for(request.user, instance_id, permissions.can_change_instance,
                                                   rows=Instance.objects.exclude(status=Instance.Status.DELETED)))


def _sign_in(request: HttpRequest, *, setup: Setup | None = None, instance: Instance | None = None) -> HttpResponse:
    """OAuth goes to Azure AD (the callback finishes it); server-to-server and custom get a token now."""
    try:
        if (setup or instance).auth_type == AuthType.OAUTH2:
            return redirect(do_start_authorization(user=request.user, setup=setup, instance=instance,
                                                   redirect_uri=redirect_uri_for(request)))
        authorization = do_authorize_without_browser(user=request.user, setup=setup, instance=instance)
    except AzureError as exc:
        return error_page(request, exc.code, exc.description, setup=setup, instance=instance)
    except DataverseError as exc:
        return error_page(request, exc.catalogue_code, exc.message, setup=setup, instance=instance)
    do_finish_sign_in(authorization, flow=None, acting_user=request.user)
    if instance is not None:
        messages.success(request, "New token issued. The instance is being verified again.")
        return redirect("instances:progress", instance_id=instance.pk)
    messages.success(request, "Azure AD issued a token with these credentials. Next: create the instance.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="instance")


@require_POST
@admin_required
def admin_consent(request: HttpRequest, setup_id: uuid.UUID) -> HttpResponse:
    """Stage 5's "Grant admin consent": a fresh state for this admin, then Azure's admin-consent page."""
    setup = _own_draft(request, setup_id)
    try:
        return redirect(do_start_admin_consent(setup, redirect_uri=redirect_uri_for(request),
                                               acting_user=request.user))
    except AzureError as exc:
        return error_page(request, exc.code, exc.description, setup=setup)


@csrf_exempt  # Azure AD posts from its own origin; the random, single-use, user-bound state protects it
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _answer_posted(request)
    return _answer_returned(request)


def _answer_posted(request: HttpRequest) -> HttpResponse:
    """A sign-in's answer (code+state, or error+state): redeem it, record the outcome, then GET it."""
    state = request.POST.get("state", "")
    try:
        do_complete_authorization(user=request.user, answer=request.POST.dict())
    except AzureError as exc:
        if exc.code != "state_replayed":
            return error_page(request, exc.code, exc.description)
        # Posted again (reload, back button): the GET below shows what came of it the first time.
    response = HttpResponseRedirect(f"{reverse('azure:callback')}?{urlencode({'state': state})}")
    response.status_code = 303
    return response


def _answer_returned(request: HttpRequest) -> HttpResponse:
    """A GET: the outcome page after a posted answer, or Azure's answer to an admin-consent request."""
    state = request.GET.get("state", "")
    if "code" in request.GET:
        # The portal asks for form_post; a code in a URL is never redeemed (it may sit in logs already).
        return error_page(request, "code_in_url")
    if not state and "admin_consent" in request.GET:
        return _unrequested_consent(request)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    flow = (AuthFlow.objects.select_related("setup", "instance", "authorization").filter(state=state).first()
            if ISSUED_STATE.fullmatch(state) else None)
    if flow is None:
        return error_page(request, "state_unknown")
    if flow.user_id != request.user.pk:
        return error_page(request, "state_other_user")
    if flow.purpose == AuthFlow.Purpose.ADMIN_CONSENT:
        return _admin_consent_returned(request, flow)
    return _outcome(request, flow)


def _outcome(request: HttpRequest, flow: AuthFlow) -> HttpResponse:
    where = {"setup": flow.setup, "instance": flow.instance}
    if flow.purpose == AuthFlow.Purpose.DISCOVERY:
        where["stage"] = "environment"  # "Try again" goes back to "Find my environments"
    if flow.consumed_at is None:
        # Answers are posted; a GET with a pending state carries nothing to redeem.
        if request.GET.get("error"):
            exc = error_from_redirect(request.GET.dict())
            return error_page(request, exc.code, exc.description, **where)
        return error_page(request, "answer_missing", **where)
    if flow.error_code:
        return error_page(request, flow.error_code, flow.error_detail, **where)
    if flow.purpose == AuthFlow.Purpose.DISCOVERY:
        return _discovery_returned(request, flow)
    if flow.authorization is None:
        return error_page(request, "state_replayed", **where)
    if flow.purpose == AuthFlow.Purpose.REAUTH:
        messages.success(request, "Signed in again. The instance is being verified with the new sign-in.")
        return redirect("instances:progress", instance_id=flow.instance_id)
    who = flow.authorization.claims.get("preferred_username", "")
    messages.success(request, f"Authorized{' as ' + who if who else ''}. Next: create the instance.")
    return redirect("wizard:stage", setup_id=flow.setup_id, stage="instance")


def _discovery_returned(request: HttpRequest, flow: AuthFlow) -> HttpResponse:
    """Back at the Environment stage, where the list is shown while it is fresh (azure.discovery)."""
    found = (flow.discovered or {}).get("environments")
    if found is None:  # shown and used already, or expired
        messages.info(request, "That list of environments is no longer kept. Use “Find my environments” again.")
    elif not found:
        messages.warning(request, "Signed in, but this account has no Dynamics environments in that cloud. "
                                  "Try another cloud, or type the environment's URL.")
    else:
        who = flow.discovered.get("signed_in_as", "")
        count = len(found)
        messages.success(request, f"Signed in{' as ' + who if who else ''}: found {count} environment"
                                  f"{'' if count == 1 else 's'}. Pick one below.")
    return redirect("wizard:stage", setup_id=flow.setup_id, stage="environment")


def _admin_consent_returned(request: HttpRequest, flow: AuthFlow) -> HttpResponse:
    try:
        setup = do_complete_admin_consent(user=request.user, answer=request.GET.dict())
    except AzureError as exc:
        if exc.code == "state_replayed" and not flow.error_code:
            messages.info(request, "Admin consent for the whole directory is already recorded.")
            return redirect("wizard:stage", setup_id=flow.setup_id, stage="permissions")
        if exc.code == "state_replayed":  # a reload of a refusal explains it again
            return error_page(request, flow.error_code, flow.error_detail, setup=flow.setup)
        return error_page(request, exc.code, exc.description, setup=flow.setup)
    messages.success(request, "Admin consent granted for the whole directory. Tick the confirmation and continue.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="permissions")


def _unrequested_consent(request: HttpRequest) -> HttpResponse:
    """An admin-consent answer without a state: the copied link went to another administrator.

    Nothing the portal asked for, so nothing is recorded; the page only says what Azure reported.
    """
    granted = request.GET.get("admin_consent", "").lower() == "true" and not request.GET.get("error")
    return render(request, "azure/consent_answer.html", {"granted": granted})
