"""Wizard pages: the drafts list, starting a setup, and one page per stage (each stage's handler serves it).

Who sees what: the admin who owns a draft edits it; team leads and other admins see it
read-only (GET only); anyone else gets 403.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl
from setup_portal.teams import permissions
from setup_portal.teams.roles import admin_required, is_admin, reviewer_required

from . import actions
from .access import setup_for, visible_setups
from .forms import SetupTeamForm
from .history import collapse_attempts, list_drafts
from .models import Setup
from .pages import render_stage
from .stages import STAGES, Progress, sandbox_values, stage_name


def _get_setup(request: HttpRequest, setup_id: uuid.UUID) -> tuple[Setup, bool]:
    """The setup and whether this user may change it (its owner, an admin of its team, while it
    is a draft); 404 for another team's."""
    rows = Setup.objects.select_related("owner", "team").filter(status__in=[Setup.Status.DRAFT,
                                                                           Setup.Status.COMPLETED])
    setup = setup_for(request.user, setup_id, rows=rows)
    editable = permissions.can_edit_setup(request.user, setup)
    return setup, editable


@reviewer_required
def drafts(request: HttpRequest) -> HttpResponse:
    mine = is_admin(request.user)
    visible = visible_setups(request.user)
    rows = visible.filter(owner=request.user) if mine else visible
    items = list_drafts(rows, limit=200)
    if mine and not items:
        # "Set up endpoint" with nothing to pick up: start a setup rather than show an empty list.
        return redirect("wizard:new")
    return render(request, "wizard/drafts.html", {"items": items, "total": len(STAGES), "mine": mine})


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
    info = sandbox_values()
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


@reviewer_required
def resume(request: HttpRequest, setup_id: uuid.UUID) -> HttpResponse:
    setup, _ = _get_setup(request, setup_id)
    if setup.status == Setup.Status.COMPLETED and hasattr(setup, "instance"):
        return redirect(f"/instances/{setup.instance.pk}/")
    progress = Progress.of(setup)
    stage = setup.current_stage if setup.current_stage in STAGES else "account"
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
    if stage not in STAGES:
        raise Http404("No such stage.")
    if request.method == "POST" and not editable:
        raise PermissionDenied("This draft is read-only for you.")
    progress = Progress.of(setup)
    if not progress.can_open(stage):
        messages.info(request, f"Finish “{stage_name(progress.first_open(), setup.auth_type)}” first.")
        return redirect("wizard:stage", setup_id=setup.pk, stage=progress.first_open())
    if not editable:
        history = collapse_attempts(setup.stage_records.select_related("user"), setup.auth_type)
        return render_stage(request, setup, stage, progress, editable, {"history": history})
    return STAGES[stage].handler(request, setup, stage, progress)
