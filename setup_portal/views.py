"""Project-level pages that draw on several apps: the home page and the health checks."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from kombu import Connection

from setup_portal.instances.access import visible_instances
from setup_portal.instances.models import Instance
from setup_portal.teams import permissions, roles
from setup_portal.wizard.access import visible_setups
from setup_portal.wizard.history import list_drafts


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    ctx: dict = {}
    instances = visible_instances(user)
    if roles.is_admin(user):
        ctx["drafts"] = list_drafts(visible_setups(user).filter(owner=user), limit=5)
        ctx["change_requests"] = (instances.filter(owner=user, review_state=Instance.Review.CHANGES_REQUESTED)
                                  .exclude(status=Instance.Status.DELETED).select_related("reviewed_by"))
        ctx["recent_instances"] = instances.exclude(status=Instance.Status.DELETED)[:5]
    elif roles.is_team_lead(user):
        # The instances this team lead reviews: their teams' where they are team lead.
        live = (Instance.objects.filter(team_id__in=permissions.team_ids(user, permissions.TEAM_LEAD))
                .exclude(status=Instance.Status.DELETED))
        # Back after this team lead's own change request: they asked, so they see it first.
        ctx["resubmitted"] = (live.filter(review_state=Instance.Review.RESUBMITTED, reviewed_by=user)
                              .select_related("owner")[:10])
        ctx["awaiting_review"] = (live.filter(review_state__in=[Instance.Review.PENDING, Instance.Review.RESUBMITTED])
                                  .exclude(review_state=Instance.Review.RESUBMITTED, reviewed_by=user)
                                  .select_related("owner")[:10])
        ctx["drafts"] = list_drafts(visible_setups(user), limit=5)
    return render(request, "home.html", ctx)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def broker_ok() -> bool:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    try:
        with Connection(settings.CELERY_BROKER_URL, transport_options=options, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Nothing outside it is asked, so an orchestrator never restarts
    every web process because the database is down (/readyz tells it to stop sending them traffic)."""
    return JsonResponse({"status": "ok", "version": settings.VERSION})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 only while the database and the broker answer, else 503."""
    checks = {"database": database_ok(), "broker": broker_ok()}
    ok = all(checks.values())
    body = {"status": "ok" if ok else "unavailable", "version": settings.VERSION,
            **{name: "ok" if good else "unreachable" for name, good in checks.items()}}
    return JsonResponse(body, status=200 if ok else 503)
