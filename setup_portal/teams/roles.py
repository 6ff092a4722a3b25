"""Roles: a role is held in a team (teams.Membership: admin or team lead); portal administrators
are a Django group (superusers count). These helpers are the one place that knows how roles are
stored; what a role may do is decided in teams/permissions.py.

The "Admin" and "Team lead" groups are where roles lived before teams: the teams migration read
them into Default-team memberships, and nothing consults them any more.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

from setup_portal.teams.models import Membership, Team, forget_roles, roles_of

ADMIN = "Admin"
TEAM_LEAD = "Team lead"
PORTAL_ADMIN = "Portal administrator"
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
    PORTAL_ADMIN: ["auth.add_user", "auth.change_user", "auth.view_user"],
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


def is_portal_admin(user) -> bool:
    """Manages users, teams and memberships and sees every team's objects."""
    return user.is_authenticated and (user.is_superuser or PORTAL_ADMIN in _groups(user))


def is_admin(user) -> bool:
    """An admin of some team (superusers count)."""
    return user.is_authenticated and (user.is_superuser or Membership.Role.ADMIN in roles_of(user).values())


def is_team_lead(user) -> bool:
    """A team lead of some team."""
    return user.is_authenticated and Membership.Role.TEAM_LEAD in roles_of(user).values()


def can_review(user) -> bool:
    return is_admin(user) or is_team_lead(user)


def role_label(user) -> str:
    if is_admin(user):
        return ADMIN
    if is_team_lead(user):
        return TEAM_LEAD
    return "No role"


def set_role(user, role_key: str | None, team: Team | None = None) -> None:
    """Give `user` the role "admin" or "teamlead" in `team` (the Default team when None), or
    None to take the user out of that team. Other teams' memberships are left alone."""
    team = team or Team.objects.default()
    if role_key:
        Membership.objects.update_or_create(user=user, team=team, defaults={"role": role_key})
    else:
        Membership.objects.filter(user=user, team=team).delete()
    forget_roles(user)


def set_portal_admin(user, value: bool = True) -> None:
    ensure_roles()
    group = Group.objects.get(name=PORTAL_ADMIN)
    if value:
        user.groups.add(group)
    else:
        user.groups.remove(group)
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
# Pages listing a team's things: for its admins and team leads, and portal administrators (who see all).
reviewer_required = role_required(lambda user: can_review(user) or is_portal_admin(user),
                                  "This page is for admins and team leads.")
# Reviews are the team leads' job; admins provision, so they do not approve their own work.
team_lead_required = role_required(is_team_lead, "Only team leads review instances.")
portal_admin_required = role_required(is_portal_admin, "This page is for portal administrators.")
