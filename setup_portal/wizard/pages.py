"""What every stage page shares: rendering it with the step indicator, when the admin started it,
moving on to the next stage, and the sandbox's values. Stage handlers (stage_views.py, and stage 8's
in the instances app) build on these."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from setup_portal.azure.client import AzureError, admin_consent_link
from setup_portal.teams.roles import is_admin

from .models import AuthType, Setup
from .stages import STAGES, Progress, next_stage, position, previous_stage, stage_name
from .summary import setup_summary

SESSION_KEY = "wizard_stage_started"


def started_at(request: HttpRequest, setup: Setup, stage: str, *, remember: bool) -> dt.datetime | None:
    """When this user first opened the stage page; kept in the session until the stage is completed."""
    started = request.session.get(SESSION_KEY, {})
    key = f"{setup.pk}:{stage}"
    if key not in started and remember:
        started[key] = timezone.now().isoformat()
        request.session[SESSION_KEY] = started
    return dt.datetime.fromisoformat(started[key]) if key in started else None


def forget_started(request: HttpRequest, setup: Setup, stage: str) -> None:
    started = request.session.get(SESSION_KEY, {})
    if started.pop(f"{setup.pk}:{stage}", None) is not None:
        request.session[SESSION_KEY] = started


def consent_url(setup: Setup) -> str:
    """The admin-consent link to send to another administrator; without a state its answer records nothing."""
    if not (setup.client_id and setup.tenant and setup.dynamics_url):
        return ""
    try:
        return admin_consent_link(cloud=setup.cloud, tenant=setup.tenant, use_sandbox=setup.use_sandbox,
                                  client_id=setup.client_id, dynamics_url=setup.dynamics_url,
                                  redirect_uri=redirect_uri())
    except AzureError:  # the sandbox is off or the cloud unknown: no link to offer
        return ""


def redirect_uri() -> str:
    return settings.PORTAL_BASE_URL + "/azure/callback/"


def render_stage(request: HttpRequest, setup: Setup, stage: str, progress: Progress, editable: bool,
                 ctx: dict, status: int = 200) -> HttpResponse:
    previous = previous_stage(stage)
    last = stage == STAGES.last
    ctx.update({
        "setup": setup, "stage": stage, "stage_name": stage_name(stage, setup.auth_type), "number": position(stage),
        "total": len(STAGES), "steps": progress.steps(stage), "editable": editable,
        "previous": previous, "following": None if last else next_stage(stage),
        "next_openable": not last and progress.can_open(next_stage(stage)),
        "redirect_uri": redirect_uri(),
        "summary": setup_summary(setup, hints=is_admin(request.user)), "is_custom": setup.auth_type == AuthType.CUSTOM,
        "is_s2s": setup.auth_type == AuthType.S2S,
        "review_sections": [(reviewed.key, reviewed.title) for reviewed in STAGES.reviewed],
    })
    return render(request, STAGES[stage].template, ctx, status=status)


def advance(request: HttpRequest, setup: Setup, stage: str, message: str) -> HttpResponse:
    """The stage is saved: forget when it was started, say so, and go on to the next one."""
    forget_started(request, setup, stage)
    if message:
        messages.success(request, message)
    return redirect("wizard:stage", setup_id=setup.pk, stage=next_stage(stage))
