"""Who may do what: the one place that decides, for the pages, the management API and events.

Every setup and instance belongs to a team; people hold a role in teams (teams.Membership):
- a portal administrator (teams.roles.is_portal_admin; superusers count) manages users,
  teams and memberships and sees every team's setups, instances and audit events;
- an admin of a team runs the wizard for it and changes the team's instances (rotate a secret,
  disable, enable, delete, test the connection, edit, webhooks) and continues their own drafts;
- a team lead of a team sees the team's setups and instances and reviews the instances;
- superusers also change any team's instances (they are admins of every team);
- anyone else sees nothing.

The rules read plain `team_id` / `owner_id` (and `status` of a setup) and import no other app's
models, so every part may use them. The queries stay next to their models and build on
`team_scope` and `visible_or_404` here: `instances.access` (visible_instances, instance_for),
`wizard.access` (visible_setups, setup_for), `audit.access` (visible_audit_events).

Objects of a team the user cannot see do not exist for them: `instance_for` and `setup_for` fetch
through the visible rows and answer 404, so other teams' ids are not confirmed. A visible object
the user may not act on answers 403 with the rule's reason (a team lead on an admin's page, say).
A user with no role at all gets 403 "no role yet" everywhere.

Team ids are read once per request (cached on the user object by teams.models.roles_of).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Membership, Team, roles_of
from .roles import can_review, is_portal_admin

ADMIN = Membership.Role.ADMIN
TEAM_LEAD = Membership.Role.TEAM_LEAD
SETUP_DRAFT = "draft"  # wizard.Setup.Status.DRAFT: only drafts are edited


def team_ids(user, role: str | None = None) -> frozenset[int]:
    """The teams `user` belongs to (with `role` only, when given: "admin" or "teamlead")."""
    return frozenset(pk for pk, held in roles_of(user).items() if role is None or held == role)


def can_see_portal(user) -> bool:
    """Has any role: a portal administrator, or an admin or team lead of some team."""
    return is_portal_admin(user) or can_review(user)


def _sees_all(user) -> bool:
    return is_portal_admin(user)


def team_scope(user, field: str = "team_id") -> Q:
    """The filter for rows `user` may see, reaching their team through `field` (e.g.
    "instance__team_id" for deliveries): everything for portal administrators."""
    if _sees_all(user):
        return Q()
    return Q(**{f"{field}__in": team_ids(user)})


def can_view_instance(user, instance) -> bool:
    return _sees_all(user) or instance.team_id in team_ids(user)


def can_change_instance(user, instance) -> bool:
    return user.is_authenticated and (user.is_superuser or instance.team_id in team_ids(user, ADMIN))


def can_review_instance(user, instance) -> bool:
    # Admins provision, so they do not approve their own work.
    return instance.team_id in team_ids(user, TEAM_LEAD)


def can_view_setup(user, setup) -> bool:
    return _sees_all(user) or setup.team_id in team_ids(user)


def can_edit_setup(user, setup) -> bool:
    return (setup.owner_id == user.pk and setup.status == SETUP_DRAFT
            and (user.is_superuser or setup.team_id in team_ids(user, ADMIN)))


def can_create_setup(user) -> bool:
    """Runs the wizard (or POST /api/v1/instances) for some team: an admin of one."""
    return user.is_authenticated and (user.is_superuser or bool(team_ids(user, ADMIN)))


def teams_for_new_setups(user) -> QuerySet[Team]:
    """The teams `user` may put a setup in: those they are an admin of (every team for a superuser)."""
    teams = Team.objects.order_by("name")
    if user.is_superuser:
        return teams
    return teams.filter(pk__in=team_ids(user, ADMIN))


def visible_teams(user) -> QuerySet[Team]:
    """Teams pages: every team for a portal administrator; the teams a user is admin of otherwise
    (read-only); 403 for anyone else."""
    if is_portal_admin(user):
        return Team.objects.all()
    if not team_ids(user, ADMIN):
        raise PermissionDenied("Team pages are for portal administrators and the teams' admins.")
    return Team.objects.filter(pk__in=team_ids(user, ADMIN))


def can_revoke_api_key(user, api_key) -> bool:
    # Portal administrators too: a key of someone who left, or one that leaked.
    return user.is_authenticated and (api_key.owner_id == user.pk or is_portal_admin(user))


# What a refusal says, per rule: shown on the 403 page.
REASONS: dict[Callable, str] = {
    can_view_instance: "This page is for admins and team leads.",
    can_change_instance: "This page is for admins.",
    can_review_instance: "Only team leads review instances.",
    can_view_setup: "This page is for admins and team leads.",
    can_edit_setup: "This draft is read-only for you.",
    can_revoke_api_key: "Only the key's owner or a portal administrator revokes it.",
}
NO_ROLE = "This page is for admins and team leads."


def check(allowed: Callable[..., bool], user, target) -> None:
    """Raise PermissionDenied with the rule's reason unless `allowed(user, target)`."""
    if not allowed(user, target):
        raise PermissionDenied(REASONS[allowed])


def visible_or_404(user, rows: QuerySet, pk, allowed: Callable[..., bool]):
    """The row `pk` of `rows` if `user` sees it (else 404: `rows` are already narrowed to the
    user's teams by the caller, see team_scope) and `allowed(user, row)` (else 403)."""
    if not can_see_portal(user):
        raise PermissionDenied(NO_ROLE)
    try:
        found = rows.get(pk=pk)
    except (rows.model.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404(f"No {rows.model._meta.verbose_name} here: the link may be mistyped, or what it pointed to was "
                      "deleted, or it belongs to a team you are not in.") from exc
    check(allowed, user, found)
    return found


def team_leads(team_id: int) -> QuerySet:
    """The active team leads of a team: who reviews its instances."""
    return (get_user_model().objects.filter(is_active=True, memberships__team_id=team_id,
                                            memberships__role=TEAM_LEAD).order_by("pk"))


def people_to_tell(instance) -> list:
    """Who hears about an instance (notifications, e-mail): its owner and its team's team leads,
    active accounts only, each once."""
    owner = get_user_model().objects.filter(pk=instance.owner_id, is_active=True)
    return list((owner | team_leads(instance.team_id)).distinct().order_by("pk"))
