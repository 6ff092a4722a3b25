"""The OAuth redirect dance: start (authorize / reauthorize) and the callback.

All Azure AD traffic goes through client.py; these views only decide where the admin goes.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from setup_portal.accounts.roles import admin_required
from setup_portal.audit.models import record
from setup_portal.instances.actions import do_reauthenticate_instance
from setup_portal.instances.models import Instance
from setup_portal.wizard.models import AuthType, Setup

from .actions import do_record_setup_authorization
from .client import AzureError, check_s2s_or_custom, complete_authorization, error_from_redirect, start_authorization
from .errors import explain
from .models import AuthFlow

WIZARD_STAGES = {"account", "environment", "application", "keys", "permissions", "review", "authorize", "instance"}
LOOPBACK_HOSTS = {"127.0.0.1", "[::1]"}
# Stage 5's admin-consent link comes back to the callback with this state prefix (see wizard.views).
ADMIN_CONSENT_STATE = "adminconsent-"


def redirect_uri_for(request: HttpRequest) -> str:
    """The redirect URI registered with Azure AD: PORTAL_BASE_URL + /azure/callback/.

    A request that reached the portal on a loopback address (tests, end-to-end runs, a
    second local portal on another port) uses its own origin instead: Azure AD and the
    sandbox accept any port on a loopback redirect URI, and the browser must come back
    to the server that holds this run's data.
    """
    if request.get_host().rsplit(":", 1)[0] in LOOPBACK_HOSTS:
        return request.build_absolute_uri("/azure/callback/")
    return settings.PORTAL_BASE_URL + "/azure/callback/"


def _fix_url(code: str, *, setup: Setup | None, instance: Instance | None) -> tuple[str, str]:
    """Where the "fix it" button goes, and its label."""
    explanation = explain(code)
    if instance is not None:
        return reverse("instances:detail", kwargs={"instance_id": instance.pk}), "Back to the instance"
    if setup is not None:
        stage = explanation.fix_stage if explanation.fix_stage in WIZARD_STAGES else "authorize"
        label = "Try again" if stage == "authorize" else f"Go to the {stage.capitalize()} stage"
        return reverse("wizard:stage", kwargs={"setup_id": setup.pk, "stage": stage}), label
    return reverse("home"), "Back to the portal"


def error_page(request: HttpRequest, exc: AzureError, *, setup: Setup | None = None,
               instance: Instance | None = None) -> HttpResponse:
    fix_url, fix_label = _fix_url(exc.code, setup=setup, instance=instance)
    return render(request, "azure/error.html", {
        "explanation": explain(exc.code), "code": exc.code, "detail": exc.description[:300],
        "fix_url": fix_url, "fix_label": fix_label, "setup": setup, "instance": instance,
    }, status=400)


@require_POST
@admin_required
def authorize(request: HttpRequest, setup_id: uuid.UUID) -> HttpResponse:
    setup = get_object_or_404(Setup, pk=setup_id, status=Setup.Status.DRAFT)
    if setup.owner_id != request.user.pk:
        raise PermissionDenied("Only the owner of this setup can authorize it.")
    try:
        if setup.auth_type == AuthType.OAUTH2:
            return redirect(start_authorization(user=request.user, setup=setup,
                                                redirect_uri=redirect_uri_for(request)))
        authorization = check_s2s_or_custom(setup, request.user)
    except AzureError as exc:
        return error_page(request, exc, setup=setup)
    do_record_setup_authorization(setup, authorization=authorization, flow=None, acting_user=request.user)
    messages.success(request, "Azure AD issued a token with these credentials. Next: create the instance.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="instance")


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Azure AD sends the browser here with code+state, or error+error_description.

    No login is required: the state (random, single-use, ten minutes) identifies the flow
    and its user, because the session cookie may not come back with a cross-site redirect.
    A signed-in user other than the flow's is refused.
    """
    state = request.GET.get("state", "")
    if state.startswith(ADMIN_CONSENT_STATE):
        return _admin_consent_returned(request, state.removeprefix(ADMIN_CONSENT_STATE))
    flow = AuthFlow.objects.select_related("setup", "instance", "user").filter(state=state).first() if state else None
    mine = flow is not None and (not request.user.is_authenticated or request.user.pk == flow.user_id)
    try:
        authorization = complete_authorization(user=request.user, query=request.GET.dict())
    except AzureError as exc:
        return error_page(request, exc, setup=flow.setup if mine else None, instance=flow.instance if mine else None)
    if flow.purpose == AuthFlow.Purpose.REAUTH and flow.instance is not None:
        job = do_reauthenticate_instance(flow.instance, authorization=authorization, acting_user=flow.user)
        messages.success(request, "Signed in again. The instance is being verified with the new sign-in.")
        return redirect("instances:progress", instance_id=job.instance_id)
    do_record_setup_authorization(flow.setup, authorization=authorization, flow=flow, acting_user=flow.user)
    who = authorization.claims.get("preferred_username", "")
    messages.success(request, f"Authorized{' as ' + who if who else ''}. Next: create the instance.")
    return redirect("wizard:stage", setup_id=flow.setup_id, stage="instance")


def _admin_consent_returned(request: HttpRequest, setup_id: str) -> HttpResponse:
    """Azure AD's answer to the admin-consent link: no code, only the grant or a refusal.

    It changes nothing but the audit trail, so the predictable state is harmless; the
    owner of the setup must be signed in to see it.
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        setup = Setup.objects.get(pk=uuid.UUID(setup_id), owner=request.user)
    except (ValueError, Setup.DoesNotExist):
        return error_page(request, AzureError("state_unknown", "The admin-consent answer names no setup of yours."))
    if request.GET.get("error"):
        return error_page(request, error_from_redirect(request.GET.dict()), setup=setup)
    if request.GET.get("admin_consent", "").lower() != "true":
        return error_page(request, AzureError("AADSTS65001", "Azure AD did not confirm the consent."), setup=setup)
    tenant = request.GET.get("tenant", "")[:64]
    record("setup.admin_consent_granted", setup, actor=request.user, data={"tenant": tenant})
    messages.success(request, "Admin consent granted for the whole directory. Tick the confirmation and continue.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="permissions")


@require_POST
@admin_required
def reauthorize(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    """Run the sign-in again for an existing instance: same id, new authorization, history kept."""
    instance = get_object_or_404(Instance.objects.exclude(status=Instance.Status.DELETED), pk=instance_id)
    try:
        if instance.auth_type == AuthType.OAUTH2:
            return redirect(start_authorization(user=request.user, instance=instance,
                                                redirect_uri=redirect_uri_for(request)))
        authorization = check_s2s_or_custom(instance, request.user)
    except AzureError as exc:
        return error_page(request, exc, instance=instance)
    job = do_reauthenticate_instance(instance, authorization=authorization, acting_user=request.user)
    messages.success(request, "New token issued. The instance is being verified again.")
    return redirect("instances:progress", instance_id=job.instance_id)
