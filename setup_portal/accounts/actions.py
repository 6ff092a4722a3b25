"""Account actions: users, their team memberships and roles, portal administrators, teams,
and bootstrapping the first admin. Each change is atomic and audited."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q

from setup_portal.audit.models import record
from setup_portal.teams import roles
from setup_portal.teams.models import Membership, Team


def validate_new_password(password: str, *, username: str, email: str = "") -> None:
    """Django's validators, with the user's own name and address to compare against
    (`<name>2026` is refused). Raises ValidationError."""
    validate_password(password, user=get_user_model()(username=username, email=email))


@transaction.atomic
def do_create_user(username: str, *, role: str | None, team: Team | None = None, email: str = "",
                   password: str | None = None, portal_admin: bool = False, acting_user=None) -> tuple[object, str]:
    """Create a user with a role in `team` (the Default team when None; no membership when
    `role` is None), optionally a portal administrator; returns (user, password). A password
    is generated when none is given."""
    password = password or secrets.token_urlsafe(12)
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    data: dict = {"role": role or "none", "email": email, "portal_admin": portal_admin}
    if role:
        team = team or Team.objects.default()
        roles.set_role(user, role, team)
        data["team"] = team.name
    if portal_admin:
        roles.set_portal_admin(user)
    record("user.created", user, actor=acting_user, data=data)
    return user, password


def _membership(user, team: Team) -> Membership:
    return Membership.objects.select_related("user", "team").get(user=user, team=team)


@transaction.atomic
def do_add_membership(user, team: Team, role: str, *, acting_user) -> Membership:
    """Put `user` in `team` with `role`; ValidationError when they are in it already."""
    if Membership.objects.filter(user=user, team=team).exists():
        raise ValidationError(f"{user.get_username()} is already in {team.name}; change their role there instead.")
    roles.set_role(user, role, team)
    membership = _membership(user, team)
    record("membership.added", membership, actor=acting_user,
           data={"user": user.get_username(), "team": team.name, "role": role})
    return membership


@transaction.atomic
def do_change_membership_role(membership: Membership, role: str, *, acting_user) -> Membership:
    before = membership.role
    if before == role:
        return membership
    roles.set_role(membership.user, role, membership.team)
    membership.refresh_from_db()
    record("membership.role_changed", membership, actor=acting_user,
           data={"user": membership.user.get_username(), "team": membership.team.name, "from": before, "to": role})
    return membership


@transaction.atomic
def do_remove_membership(membership: Membership, *, acting_user) -> None:
    # Recorded first: the event names the membership (and its team) before it is gone.
    record("membership.removed", membership, actor=acting_user,
           data={"user": membership.user.get_username(), "team": membership.team.name, "role": membership.role})
    roles.set_role(membership.user, None, membership.team)


def portal_admins():
    """Active portal administrators (the group's members and superusers)."""
    return get_user_model().objects.filter(
        Q(groups__name=roles.PORTAL_ADMIN) | Q(is_superuser=True), is_active=True).distinct()


@transaction.atomic
def do_set_portal_admin(user, value: bool, *, acting_user) -> None:
    """Make `user` a portal administrator or take it away. Refused (ValidationError) when the
    acting user would demote themselves, or when no portal administrator would be left."""
    roles.ensure_roles()
    # Two administrators demoting each other at once must not both pass the "last one" check.
    Group.objects.select_for_update().get(name=roles.PORTAL_ADMIN)
    was = roles.is_portal_admin(user)
    if value == was:
        return
    if not value:
        if acting_user is not None and user.pk == acting_user.pk:
            raise ValidationError("You cannot take away your own portal administration; ask another "
                                  "portal administrator.")
        if user.is_superuser:
            raise ValidationError(f"{user.get_username()} is a superuser and stays a portal administrator.")
        if not portal_admins().exclude(pk=user.pk).exists():
            raise ValidationError(f"{user.get_username()} is the last portal administrator; make someone else "
                                  "one first.")
    roles.set_portal_admin(user, value)
    record("user.portal_admin_granted" if value else "user.portal_admin_revoked", user, actor=acting_user)


def _check_team_name(name: str, *, exclude: Team | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationError("Give the team a name.")
    same = Team.objects.filter(name__iexact=name)
    if exclude is not None:
        same = same.exclude(pk=exclude.pk)
    if same.exists():
        raise ValidationError(f"A team named “{name}” already exists; pick another name.")
    return name


@transaction.atomic
def do_create_team(name: str, *, acting_user) -> Team:
    team = Team.objects.create(name=_check_team_name(name))
    record("team.created", team, actor=acting_user, data={"name": team.name})
    return team


@transaction.atomic
def do_rename_team(team: Team, name: str, *, acting_user) -> Team:
    name = _check_team_name(name, exclude=team)
    before = team.name
    if before == name:
        return team
    team.name = name
    team.save(update_fields=["name"])
    record("team.renamed", team, actor=acting_user, data={"from": before, "to": name})
    return team


def do_bootstrap_first_admin(username: str, *, email: str) -> tuple[object, str] | None:
    """When no user exists, create the first admin (of the Default team, and a portal
    administrator); returns (user, password) once, else None. Raises ValidationError for a
    malformed address: password resets go there."""
    roles.ensure_roles()
    if get_user_model().objects.exists():
        return None
    validate_email(email)
    return do_create_user(username, role="admin", email=email, portal_admin=True)


@transaction.atomic
def do_set_new_password(user, *, acting_user) -> str:
    """An admin gives a user a new generated password (when password reset by e-mail is off,
    this is the way back in); returns it once. The user's sessions end with the old password."""
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    record("user.password_set", user, actor=acting_user)
    return password
