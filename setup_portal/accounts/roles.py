"""Roles are Django groups with permissions; these helpers are the one place that knows them."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

ADMIN = "Admin"
TEAM_LEAD = "Team lead"
ROLE_BY_KEY = {"admin": ADMIN, "teamlead": TEAM_LEAD}

# Permission codenames given to each role (app_label.codename).
ROLE_PERMISSIONS = {
    ADMIN: [
        "wizard.add_setup", "wizard.change_setup", "wizard.view_setup", "wizard.delete_setup",
        "instances.add_instance", "instances.change_instance", "instances.view_instance",
        "instances.delete_instance", "audit.view_auditevent",
        "auth.add_user", "auth.change_user", "auth.view_user",
    ],
    TEAM_LEAD: [
        "wizard.view_setup", "instances.view_instance", "instances.add_instancereview",
        "audit.view_auditevent",
    ],
}


def ensure_roles() -> None:
    """Create the groups and give them their permissions (idempotent)."""
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


def _groups(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_portal_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._portal_groups = cached
    return cached


def is_admin(user) -> bool:
    return user.is_authenticated and (user.is_superuser or ADMIN in _groups(user))


def is_team_lead(user) -> bool:
    return user.is_authenticated and TEAM_LEAD in _groups(user)


def can_review(user) -> bool:
    return is_admin(user) or is_team_lead(user)


def role_label(user) -> str:
    if is_admin(user):
        return ADMIN
    if is_team_lead(user):
        return TEAM_LEAD
    return "No role"


def set_role(user, role_key: str | None) -> None:
    user.groups.remove(*Group.objects.filter(name__in=ROLE_BY_KEY.values()))
    if role_key:
        ensure_roles()
        user.groups.add(Group.objects.get(name=ROLE_BY_KEY[role_key]))
    user._portal_groups = None


def role_required(check, message: str):
    """Decorator factory: anonymous users go to the login page, signed-in users failing
    `check(user)` get 403 with `message`."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


admin_required = role_required(is_admin, "This page is for admins.")
reviewer_required = role_required(can_review, "This page is for admins and team leads.")
# Reviews are the team leads' job; admins provision, so they do not approve their own work.
team_lead_required = role_required(is_team_lead, "Only team leads review instances.")
