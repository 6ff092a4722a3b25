"""The wizard's own stage pages: the form stages (1-5), review (6) and authorize (7).

Each handler serves one stage's page for the setup's owner: handler(request, setup, stage, progress).
catalogue.py names them in the stage objects; stage 8's handler is the instances app's.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse

from setup_portal.azure import discovery
from setup_portal.azure.client import AzureError
from setup_portal.azure.clouds import authority_host
from setup_portal.azure.flows import redirect_uri_for

from . import actions, certificate_views
from .forms import ConfirmForm, DiscoveryForm, EnvironmentForm
from .history import collapse_attempts
from .models import AuthType, Setup
from .pages import advance, consent_url, render_stage, started_at
from .stages import STAGES, Progress, sandbox_values


def form_stage(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    form_class = STAGES[stage].form
    sandbox = sandbox_values(setup)
    started = started_at(request, setup, stage, remember=request.method == "GET")
    if request.method != "POST":
        form = form_class(setup=setup, sandbox=sandbox)
        restored = _restore_attempt(setup, stage, form)
        ctx = {"form": form, "consent_url": consent_url(setup), "restored": restored, **_extras(setup, stage)}
        return render_stage(request, setup, stage, progress, True, ctx)
    if stage == "environment" and "find" in request.POST:
        return _find_environments(request, setup, progress)
    if stage == "keys" and request.POST.get("certificate") == "generate" and setup.auth_type != AuthType.CUSTOM:
        return certificate_views.generate(request, setup)
    if stage == "keys" and request.POST.get("fill") == "sandbox-certificate" and sandbox:
        refused = certificate_views.fill_from_sandbox(request, setup, sandbox, started)
        return refused or advance(request, setup, stage, "Filled in with the sandbox's app and a certificate "
                                                         "registered on it.")
    if stage == "keys" and request.POST.get("fill") == "sandbox" and sandbox:
        changes = actions.sandbox_key_changes(sandbox, setup.auth_type)
        actions.do_complete_stage(setup, stage, changes=changes, started_at=started, source="sandbox",
                                  acting_user=request.user)
        return advance(request, setup, stage, "Filled in with the sandbox tenant's credentials.")
    # Only the Keys stage takes a file (a certificate of the admin's own).
    files = {"files": request.FILES} if stage == "keys" else {}
    form = form_class(request.POST, setup=setup, sandbox=sandbox, **files)
    if form.is_valid():
        notes = form.notes()
        actions.do_complete_stage(setup, stage, changes=form.changes(), started_at=started, notes=notes,
                                  acting_user=request.user)
        if stage == "environment":
            discovery.forget(setup)
        for note in notes + form.flash_notes():
            messages.warning(request, note)
        return advance(request, setup, stage, _saved_message(stage, form))
    errors = [f"{name}: {e}" for name, errs in form.errors.items() for e in errs]
    # Only the form's own fields are worth keeping; anything else a client posts is noise.
    typed = {name: value for name, value in request.POST.dict().items() if name in form.fields}
    actions.do_record_failed_stage(setup, stage, values=typed, errors=errors,
                                   started_at=started, acting_user=request.user)
    ctx = {"form": form, "consent_url": consent_url(setup), **_extras(setup, stage)}
    return render_stage(request, setup, stage, progress, True, ctx, status=400)


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
           "consent_url": consent_url(setup)}
    return render_stage(request, setup, "environment", progress, True, ctx, status=400)


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


def review(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    started = started_at(request, setup, stage, remember=request.method == "GET")
    if request.method == "POST" and ConfirmForm(request.POST, setup=setup).is_valid():
        actions.do_complete_stage(setup, stage, changes={}, started_at=started, acting_user=request.user)
        return advance(request, setup, stage, "Saved. Next: authorize the portal in Azure AD.")
    history = list(setup.stage_records.select_related("user"))
    latest = {r.stage: r for r in history if r.valid}  # a stage done again supersedes its earlier notes
    warnings = [note for r in latest.values() if not r.invalidated_at for note in r.messages]
    return render_stage(request, setup, stage, progress, True,
                   {"history": collapse_attempts(history, setup.auth_type), "warnings": warnings})


def authorize(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    started = started_at(request, setup, stage, remember=request.method == "GET")
    if request.method == "POST":
        if not setup.authorized_at:
            messages.error(request, "Authorize first: sign in with Microsoft using the button below.")
            return redirect("wizard:stage", setup_id=setup.pk, stage=stage)
        actions.do_complete_stage(setup, stage, changes={}, started_at=started, acting_user=request.user)
        return advance(request, setup, stage, "")
    authorization = setup.authorizations.first() if setup.authorized_at else None
    claims = authorization.claims if authorization else {}
    return render_stage(request, setup, stage, progress, True,
                   {"authorization": authorization, "signed_in_as": claims.get("preferred_username", ""),
                    "authorize_action": authorize_action(setup)})


def authorize_action(setup: Setup) -> str:
    try:
        return reverse("azure:authorize", kwargs={"setup_id": setup.pk})
    except NoReverseMatch:  # the azure app's URLs are not wired yet
        return f"/azure/authorize/{setup.pk}/"
