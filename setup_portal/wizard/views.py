"""Wizard pages: the drafts list, starting a setup, and one page per stage.

Who sees what: the admin who owns a draft edits it; team leads and other admins see it
read-only (GET only); anyone else gets 403.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from setup_portal.azure import discovery
from setup_portal.azure.client import AzureError, admin_consent_link
from setup_portal.azure.clouds import authority_host
from setup_portal.azure.views import redirect_uri_for
from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl
from setup_portal.events.forms import with_sandbox_bin
from setup_portal.events.views import set_up_webhooks
from setup_portal.instances.access import instance_for
from setup_portal.teams import permissions
from setup_portal.teams.roles import admin_required, is_admin, reviewer_required
from setup_portal.wizard.access import setup_for, visible_setups

from . import actions, certificate_views
from .forms import (
    AccountForm,
    ApplicationForm,
    ConfirmForm,
    DiscoveryForm,
    EnvironmentForm,
    InstanceForm,
    KeysForm,
    PermissionsForm,
    SetupTeamForm,
)
from .history import collapse_attempts, list_drafts
from .models import AuthType, Setup
from .stages import STAGE_KEYS, STAGES, Progress, next_stage, position, previous_stage, stage_name
from .summary import setup_summary

log = logging.getLogger(__name__)

STAGE_FORMS = {"account": AccountForm, "environment": EnvironmentForm, "application": ApplicationForm,
               "keys": KeysForm, "permissions": PermissionsForm}
SESSION_KEY = "wizard_stage_started"


def _get_setup(request: HttpRequest, setup_id: uuid.UUID) -> tuple[Setup, bool]:
    """The setup and whether this user may change it (its owner, an admin of its team, while it
    is a draft); 404 for another team's."""
    rows = Setup.objects.select_related("owner", "team").filter(status__in=[Setup.Status.DRAFT,
                                                                           Setup.Status.COMPLETED])
    setup = setup_for(request.user, setup_id, rows=rows)
    editable = permissions.can_edit_setup(request.user, setup)
    return setup, editable


def _sandbox_info() -> dict | None:
    """The sandbox tenant's values, or None when it is off or cannot say (not started yet)."""
    if not settings.SANDBOX_ENABLED:
        return None
    try:
        from setup_portal.sandbox.info import sandbox_info

        return sandbox_info()
    except Exception:  # whatever the sandbox raises, the admin gets a page with a message, not a 500
        log.exception("sandbox_info failed")
        return None


def _started_at(request: HttpRequest, setup: Setup, stage: str, *, remember: bool) -> dt.datetime | None:
    """When this user first opened the stage page; kept in the session until the stage is completed."""
    started = request.session.get(SESSION_KEY, {})
    key = f"{setup.pk}:{stage}"
    if key not in started and remember:
        started[key] = timezone.now().isoformat()
        request.session[SESSION_KEY] = started
    return dt.datetime.fromisoformat(started[key]) if key in started else None


def _forget_started(request: HttpRequest, setup: Setup, stage: str) -> None:
    started = request.session.get(SESSION_KEY, {})
    if started.pop(f"{setup.pk}:{stage}", None) is not None:
        request.session[SESSION_KEY] = started


def _authorize_action(setup: Setup) -> str:
    try:
        return reverse("azure:authorize", kwargs={"setup_id": setup.pk})
    except NoReverseMatch:  # the azure app's URLs are not wired yet
        return f"/azure/authorize/{setup.pk}/"


def _consent_url(setup: Setup) -> str:
    """The admin-consent link to send to another administrator; without a state its answer records nothing."""
    if not (setup.client_id and setup.tenant and setup.dynamics_url):
        return ""
    try:
        return admin_consent_link(cloud=setup.cloud, tenant=setup.tenant, use_sandbox=setup.use_sandbox,
                                  client_id=setup.client_id, dynamics_url=setup.dynamics_url,
                                  redirect_uri=_redirect_uri())
    except AzureError:  # the sandbox is off or the cloud unknown: no link to offer
        return ""


def _redirect_uri() -> str:
    return settings.PORTAL_BASE_URL + "/azure/callback/"


def _render(request: HttpRequest, setup: Setup, stage: str, progress: Progress, editable: bool,
            ctx: dict, status: int = 200) -> HttpResponse:
    previous = previous_stage(stage)
    ctx.update({
        "setup": setup, "stage": stage, "stage_name": stage_name(stage, setup.auth_type), "number": position(stage),
        "total": len(STAGE_KEYS), "steps": progress.steps(stage), "editable": editable,
        "previous": previous, "following": next_stage(stage) if stage != STAGE_KEYS[-1] else None,
        "next_openable": stage != STAGE_KEYS[-1] and progress.can_open(next_stage(stage)),
        "redirect_uri": _redirect_uri(),
        "summary": setup_summary(setup, hints=is_admin(request.user)), "is_custom": setup.auth_type == AuthType.CUSTOM,
        "is_s2s": setup.auth_type == AuthType.S2S, "review_sections": STAGES[:5],
    })
    return render(request, f"wizard/{stage}.html", ctx, status=status)


@reviewer_required
def drafts(request: HttpRequest) -> HttpResponse:
    mine = is_admin(request.user)
    visible = visible_setups(request.user)
    rows = visible.filter(owner=request.user) if mine else visible
    items = list_drafts(rows, limit=200)
    if mine and not items:
        # "Set up endpoint" with nothing to pick up: start a setup rather than show an empty list.
        return redirect("wizard:new")
    return render(request, "wizard/drafts.html", {"items": items, "total": len(STAGE_KEYS), "mine": mine})


@admin_required
def new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        setup = actions.do_create_setup(acting_user=request.user)
        return redirect("wizard:stage", setup_id=setup.pk, stage="account")
    has_drafts = Setup.objects.filter(owner=request.user, status=Setup.Status.DRAFT).exists()
    team_form = SetupTeamForm(user=request.user)
    return render(request, "wizard/new.html",
                  {"has_drafts": has_drafts, "team_form": team_form if team_form.asks else None})


@require_POST
@admin_required
def use_sandbox(request: HttpRequest) -> HttpResponse:
    if not settings.SANDBOX_ENABLED:
        raise Http404("The sandbox tenant is not enabled.")
    info = _sandbox_info()
    if not info:
        messages.error(request, "The sandbox tenant is not running. Start it with `make run` "
                                "(or `python manage.py run_sandbox`) and try again.")
        return redirect("wizard:new")
    team_form = SetupTeamForm(request.POST, user=request.user)
    if team_form.asks and not team_form.is_valid():
        messages.error(request, "Pick the team the sandbox endpoint is for.")
        return redirect("wizard:new")
    setup = actions.do_create_setup(acting_user=request.user,
                                    team=team_form.cleaned_data["team"] if team_form.asks else None)
    try:
        actions.do_fill_from_sandbox(setup, info, acting_user=request.user)
    except InvalidDynamicsUrl as exc:
        messages.error(request, f"The sandbox's Dynamics URL was refused: {exc.message}")
        return redirect("wizard:stage", setup_id=setup.pk, stage="account")
    messages.success(request, "Every stage is filled in with the sandbox tenant's values. Check them here, "
                              "or open any step above to see what it asks.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="review")


@require_POST
@admin_required
def promote(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    """"Promote…" on a Ready instance: a new setup for production with what carries over filled in."""
    instance = instance_for(request.user, instance_id, permissions.can_change_instance)
    if instance.status != "ready":
        messages.error(request, "Only a Ready instance can be promoted: finish or fix its rehearsal first.")
        return redirect(f"/instances/{instance.pk}/")
    setup = actions.do_start_promotion(instance, acting_user=request.user)
    messages.success(request, f"Promoting “{instance.name}”: its settings are filled in. Pick the production "
                              "environment (Find my environments lists them), then its directory, app, keys, "
                              "permissions and sign-in.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="environment")


@reviewer_required
def resume(request: HttpRequest, setup_id: uuid.UUID) -> HttpResponse:
    setup, _ = _get_setup(request, setup_id)
    if setup.status == Setup.Status.COMPLETED and hasattr(setup, "instance"):
        return redirect(f"/instances/{setup.instance.pk}/")
    progress = Progress.of(setup)
    stage = setup.current_stage if setup.current_stage in STAGE_KEYS else "account"
    if not progress.can_open(stage):
        stage = progress.first_open()
    return redirect("wizard:stage", setup_id=setup.pk, stage=stage)


@require_POST
@admin_required
def discard(request: HttpRequest, setup_id: uuid.UUID) -> HttpResponse:
    setup, editable = _get_setup(request, setup_id)
    if not editable:
        raise PermissionDenied("Only the admin who started this draft can discard it.")
    actions.do_discard_setup(setup, acting_user=request.user)
    messages.success(request, f"Discarded the draft “{setup}”.")
    return redirect("wizard:drafts")


@reviewer_required
def stage(request: HttpRequest, setup_id: uuid.UUID, stage: str) -> HttpResponse:
    setup, editable = _get_setup(request, setup_id)
    if stage not in STAGE_KEYS:
        raise Http404("No such stage.")
    if request.method == "POST" and not editable:
        raise PermissionDenied("This draft is read-only for you.")
    progress = Progress.of(setup)
    if not progress.can_open(stage):
        messages.info(request, f"Finish “{stage_name(progress.first_open(), setup.auth_type)}” first.")
        return redirect("wizard:stage", setup_id=setup.pk, stage=progress.first_open())
    if not editable:
        history = collapse_attempts(setup.stage_records.select_related("user"), setup.auth_type)
        return _render(request, setup, stage, progress, editable, {"history": history})
    handler = {"review": _review, "authorize": _authorize, "instance": _instance}.get(stage, _form_stage)
    return handler(request, setup, stage, progress)


def _form_stage(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    form_class = STAGE_FORMS[stage]
    sandbox = _sandbox_info() if setup.use_sandbox else None
    started_at = _started_at(request, setup, stage, remember=request.method == "GET")
    if request.method != "POST":
        form = form_class(setup=setup, sandbox=sandbox)
        restored = _restore_attempt(setup, stage, form)
        ctx = {"form": form, "consent_url": _consent_url(setup), "restored": restored, **_extras(setup, stage)}
        return _render(request, setup, stage, progress, True, ctx)
    if stage == "environment" and "find" in request.POST:
        return _find_environments(request, setup, progress)
    if stage == "keys" and request.POST.get("certificate") == "generate" and setup.auth_type != AuthType.CUSTOM:
        return certificate_views.generate(request, setup)
    if stage == "keys" and request.POST.get("fill") == "sandbox-certificate" and sandbox:
        refused = certificate_views.fill_from_sandbox(request, setup, sandbox, started_at)
        return refused or _advance(request, setup, stage, "Filled in with the sandbox's app and a certificate "
                                                          "registered on it.")
    if stage == "keys" and request.POST.get("fill") == "sandbox" and sandbox:
        changes = actions.sandbox_key_changes(sandbox, setup.auth_type)
        actions.do_complete_stage(setup, stage, changes=changes, started_at=started_at, source="sandbox",
                                  acting_user=request.user)
        return _advance(request, setup, stage, "Filled in with the sandbox tenant's credentials.")
    # Only the Keys stage takes a file (a certificate of the admin's own).
    files = {"files": request.FILES} if stage == "keys" else {}
    form = form_class(request.POST, setup=setup, sandbox=sandbox, **files)
    if form.is_valid():
        notes = form.notes()
        actions.do_complete_stage(setup, stage, changes=form.changes(), started_at=started_at, notes=notes,
                                  acting_user=request.user)
        if stage == "environment":
            discovery.forget(setup)
        for note in notes + form.flash_notes():
            messages.warning(request, note)
        return _advance(request, setup, stage, _saved_message(stage, form))
    errors = [f"{name}: {e}" for name, errs in form.errors.items() for e in errs]
    # Only the form's own fields are worth keeping; anything else a client posts is noise.
    typed = {name: value for name, value in request.POST.dict().items() if name in form.fields}
    actions.do_record_failed_stage(setup, stage, values=typed, errors=errors,
                                   started_at=started_at, acting_user=request.user)
    ctx = {"form": form, "consent_url": _consent_url(setup), **_extras(setup, stage)}
    return _render(request, setup, stage, progress, True, ctx, status=400)


def _extras(setup: Setup, stage: str, find_form: DiscoveryForm | None = None) -> dict:
    """The Environment stage's "Find my environments" form, next to the stage's own."""
    if stage != "environment":
        return {}
    return {"find_form": find_form or DiscoveryForm(setup=setup)}


def _find_environments(request: HttpRequest, setup: Setup, progress: Progress) -> HttpResponse:
    """Sign the admin in with the public client to list their environments (azure.discovery)."""
    find_form = DiscoveryForm(request.POST, setup=setup)
    error = ""
    if find_form.is_valid():
        try:
            return redirect(discovery.do_start_discovery(
                user=request.user, setup=setup, service=find_form.cleaned_data["service"],
                tenant=find_form.cleaned_data["tenant"], redirect_uri=redirect_uri_for(request)))
        except AzureError as exc:
            error = f"The sign-in could not start: {exc.description or exc.code}"
    ctx = {"form": EnvironmentForm(setup=setup), "find_form": find_form, "find_error": error,
           "consent_url": _consent_url(setup)}
    return _render(request, setup, "environment", progress, True, ctx, status=400)


def _restore_attempt(setup: Setup, stage: str, form) -> bool:
    """Put back what the admin typed in a refused attempt they walked away from (never secrets).

    Resuming a draft should show the stage as it was left, not blank fields.
    """
    last = setup.stage_records.filter(stage=stage).order_by("-completed_at", "-id").first()
    if last is None or last.valid:
        return False
    for name, value in last.values.items():
        if name in form.fields and name not in actions.SECRET_HINTS and isinstance(value, str):
            form.initial[name] = value
    return True


def _saved_message(stage: str, form) -> str:
    if stage == "environment":
        changes = form.changes()
        sign_in = "the sandbox tenant" if changes["use_sandbox"] else authority_host(changes["cloud"])
        return f"Saved. Detected region: {changes['region']}; admins sign in at {sign_in}."
    if stage == "keys" and form.azure_accepted:
        return f"Saved. Azure AD accepted this client ID and {'certificate' if form.certificate else 'secret'}."
    return ""


def _advance(request: HttpRequest, setup: Setup, stage: str, message: str) -> HttpResponse:
    _forget_started(request, setup, stage)
    if message:
        messages.success(request, message)
    return redirect("wizard:stage", setup_id=setup.pk, stage=next_stage(stage))


def _review(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    started_at = _started_at(request, setup, stage, remember=request.method == "GET")
    if request.method == "POST" and ConfirmForm(request.POST, setup=setup).is_valid():
        actions.do_complete_stage(setup, stage, changes={}, started_at=started_at, acting_user=request.user)
        return _advance(request, setup, stage, "Saved. Next: authorize the portal in Azure AD.")
    history = list(setup.stage_records.select_related("user"))
    latest = {r.stage: r for r in history if r.valid}  # a stage done again supersedes its earlier notes
    warnings = [note for r in latest.values() if not r.invalidated_at for note in r.messages]
    return _render(request, setup, stage, progress, True,
                   {"history": collapse_attempts(history, setup.auth_type), "warnings": warnings})


def _authorize(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    started_at = _started_at(request, setup, stage, remember=request.method == "GET")
    if request.method == "POST":
        if not setup.authorized_at:
            messages.error(request, "Authorize first: sign in with Microsoft using the button below.")
            return redirect("wizard:stage", setup_id=setup.pk, stage=stage)
        actions.do_complete_stage(setup, stage, changes={}, started_at=started_at, acting_user=request.user)
        return _advance(request, setup, stage, "")
    authorization = setup.authorizations.first() if setup.authorized_at else None
    claims = authorization.claims if authorization else {}
    return _render(request, setup, stage, progress, True,
                   {"authorization": authorization, "signed_in_as": claims.get("preferred_username", ""),
                    "authorize_action": _authorize_action(setup)})


def _instance(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    started_at = _started_at(request, setup, stage, remember=request.method == "GET")
    if request.method == "POST" and "use_sandbox_bin" in request.POST and setup.use_sandbox:
        # "Use the sandbox tenant" for webhooks: the form again, as typed, aimed at a fresh bin.
        form = InstanceForm(None, setup=setup)
        form.initial.update(with_sandbox_bin(form, request.POST))
        return _render(request, setup, stage, progress, True, {"form": form})
    form = InstanceForm(request.POST if request.method == "POST" else None, setup=setup)
    if request.method == "POST" and form.is_valid():
        try:
            # One transaction: the webhook endpoint exists before provisioning (and instance.ready) starts.
            with transaction.atomic():
                job = actions.do_finish_setup(setup, settings=form.settings(), started_at=started_at,
                                              acting_user=request.user)
                if form.cleaned_data["events_enabled"]:
                    set_up_webhooks(request, job.instance, form.endpoint_settings())
        except IntegrityError:  # another admin took the name between the check and the insert
            form.add_error("name", "An instance with this name was just created. Pick another name.")
        else:
            _forget_started(request, setup, stage)
            return redirect("instances:progress", instance_id=job.instance_id)
    status = 400 if request.method == "POST" else 200
    return _render(request, setup, stage, progress, True, {"form": form}, status=status)
