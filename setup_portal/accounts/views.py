from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from setup_portal.instances.models import Instance
from setup_portal.wizard.models import Setup

from . import roles
from .actions import do_change_role, do_create_user
from .forms import AddUserForm, ChangeRoleForm


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    ctx: dict = {}
    if roles.is_admin(user):
        ctx["drafts"] = Setup.objects.filter(owner=user, status=Setup.Status.DRAFT)[:5]
        ctx["change_requests"] = (Instance.objects.filter(owner=user, review_state=Instance.Review.CHANGES_REQUESTED)
                                  .exclude(status=Instance.Status.DELETED).select_related("reviewed_by"))
        ctx["recent_instances"] = Instance.objects.exclude(status=Instance.Status.DELETED)[:5]
    elif roles.is_team_lead(user):
        ctx["awaiting_review"] = (Instance.objects.filter(review_state=Instance.Review.PENDING)
                                  .exclude(status=Instance.Status.DELETED).select_related("owner")[:10])
        ctx["drafts"] = Setup.objects.filter(status=Setup.Status.DRAFT).select_related("owner")[:5]
    return render(request, "home.html", ctx)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    from kombu import Connection

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    try:
        with Connection(settings.CELERY_BROKER_URL, transport_options=options, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ok = all(checks.values())
    body = {"status": "ok" if ok else "unavailable", "version": settings.VERSION,
            **{name: "ok" if good else "unreachable" for name, good in checks.items()}}
    return JsonResponse(body, status=200 if ok else 503)


@roles.admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = []
    for user in users:
        user._portal_groups = {g.name for g in user.groups.all()}
        rows.append({"user": user, "role": roles.role_label(user)})
    return render(request, "accounts/user_list.html", {"rows": rows})


@roles.admin_required
def user_add(request: HttpRequest) -> HttpResponse:
    form = AddUserForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            user, password = do_create_user(data["username"], role=data["role"] or None, email=data["email"],
                                            password=data["password"] or None, acting_user=request.user)
            generated = not data["password"]
            return render(request, "accounts/user_created.html",
                          {"new_user": user, "password": password if generated else None,
                           "role": roles.role_label(user)})
        return render(request, "accounts/user_add.html", {"form": form}, status=400)
    return render(request, "accounts/user_add.html", {"form": form})


@require_POST
@roles.admin_required
def user_role(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    form = ChangeRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick one of the listed roles.")
        return redirect("user_list")
    if target == request.user and form.cleaned_data["role"] != "admin":
        messages.error(request, "You cannot take away your own admin role; ask another admin.")
        return redirect("user_list")
    do_change_role(target, form.cleaned_data["role"] or None, acting_user=request.user)
    messages.success(request, f"{target.get_username()} is now: {roles.role_label(target)}.")
    return redirect("user_list")
