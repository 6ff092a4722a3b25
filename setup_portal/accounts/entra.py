"""Sign-in with Microsoft: who the id_token's groups make a user in the portal.

Portal administrators map Entra ID group object IDs to a role in a team and/or to portal
administration (GroupMapping). At every sign-in with Microsoft the user's memberships follow
their groups: memberships made by a mapping are added, changed and removed with the groups;
memberships added by hand are never touched (a person can be given more than the groups give).
Portal administration follows the groups for a user who has it from a mapping, and is never
taken from someone who was given it by hand.
"""

from __future__ import annotations

import re
import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from setup_portal.audit.models import record
from setup_portal.teams import roles
from setup_portal.teams.models import GroupMapping, Membership, Team

# An admin mapping wins over a team-lead one for the same team.
_RANK = {Membership.Role.TEAM_LEAD: 1, Membership.Role.ADMIN: 2}
BY_GROUP_MAPPING = "group mapping"
PORTAL_ADMIN_BY_MAPPING = "Portal administrators by group mapping"


@transaction.atomic
def do_create_group_mapping(group_id: uuid.UUID, *, team: Team | None, role: str, portal_admin: bool,
                            acting_user) -> GroupMapping:
    """Map an Entra group; ValidationError when the same group is mapped to that team already, or
    the mapping would give nothing. Takes effect at each member's next sign-in."""
    if team is None and not portal_admin:
        raise ValidationError("Pick a team and role, or portal administration, or both.")
    if team is not None and not role:
        raise ValidationError("Pick the role the group's members get in that team.")
    if GroupMapping.objects.filter(group_id=group_id, team=team).exists():
        where = f"to {team.name}" if team else "to portal administration"
        raise ValidationError(f"Group {group_id} is already mapped {where}; remove that mapping first.",
                              code="taken")
    mapping = GroupMapping.objects.create(group_id=group_id, team=team, role=role if team else "",
                                          portal_admin=portal_admin)
    record("group_mapping.created", mapping, actor=acting_user, data=_mapping_data(mapping))
    return mapping


@transaction.atomic
def do_delete_group_mapping(mapping: GroupMapping, *, acting_user) -> None:
    """The members keep what it gave them until their next sign-in, which takes it away."""
    record("group_mapping.deleted", mapping, actor=acting_user, data=_mapping_data(mapping))
    mapping.delete()


def _mapping_data(mapping: GroupMapping) -> dict:
    return {"group_id": str(mapping.group_id), "team": mapping.team.name if mapping.team else "",
            "role": mapping.role, "portal_admin": mapping.portal_admin}


def group_ids_in(claims: dict) -> list[str] | None:
    """The `groups` claim's object IDs; None when the token has the groups overage claim instead."""
    if "groups" in (claims.get("_claim_names") or {}):
        return None
    return [str(g) for g in claims.get("groups") or []]


def grants_for(group_ids: list[str]) -> tuple[dict[Team, str], bool]:
    """({team: role}, portal administrator?) that the mappings of these groups give."""
    ids = []
    for raw in group_ids:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    teams: dict[Team, str] = {}
    portal_admin = False
    for mapping in GroupMapping.objects.filter(group_id__in=ids).select_related("team"):
        portal_admin |= mapping.portal_admin
        if mapping.team is not None and _RANK[mapping.role] > _RANK.get(teams.get(mapping.team, ""), 0):
            teams[mapping.team] = mapping.role
    return teams, portal_admin


@transaction.atomic
def do_sign_in_by_group_mapping(user, claims: dict, group_ids: list[str]):
    """The portal user for this sign-in, made when `user` is None, with memberships in step with
    the groups; None when no group is mapped (a known user's mapped memberships go all the same)."""
    teams, portal_admin = grants_for(group_ids)
    if user is None and not teams and not portal_admin:
        return None
    if user is None:
        user = _create_user(claims)
    _sync_memberships(user, teams)
    _sync_portal_admin(user, portal_admin)
    return user if teams or portal_admin else None


def _create_user(claims: dict):
    """A portal user for an Entra user: no local password, named after the sign-in name."""
    address = claims.get("email") or claims.get("preferred_username") or ""
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "", claims.get("preferred_username") or address)[:140] or "entra-user"
    username, n = base, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base}-{n}"
    user = User(username=username, email=address if "@" in address else "")
    user.set_unusable_password()
    user.save()
    record("user.created", user, data={"by": BY_GROUP_MAPPING, "email": user.email, "oid": claims.get("oid", "")})
    return user


def _sync_memberships(user, teams: dict[Team, str]) -> None:
    current = {m.team_id: m for m in Membership.objects.filter(user=user).select_related("team")}
    for team, role in teams.items():
        membership = current.pop(team.pk, None)
        if membership is None:
            roles.set_role(user, role, team)
            Membership.objects.filter(user=user, team=team).update(by_group_mapping=True)
            record("membership.added", Membership.objects.get(user=user, team=team),
                   data={"user": user.get_username(), "team": team.name, "role": role, "by": BY_GROUP_MAPPING})
        elif membership.by_group_mapping and membership.role != role:
            before = membership.role
            roles.set_role(user, role, team)
            record("membership.role_changed", membership, data={
                "user": user.get_username(), "team": team.name, "from": before, "to": role, "by": BY_GROUP_MAPPING})
    for membership in current.values():
        if membership.by_group_mapping:
            record("membership.removed", membership, data={
                "user": user.get_username(), "team": membership.team.name, "role": membership.role,
                "by": BY_GROUP_MAPPING})
            roles.set_role(user, None, membership.team)


def _sync_portal_admin(user, portal_admin: bool) -> None:
    # The marker group says the portal administration came from a mapping (so it may go with it).
    marker, _ = Group.objects.get_or_create(name=PORTAL_ADMIN_BY_MAPPING)
    by_mapping = user.groups.filter(pk=marker.pk).exists()
    if portal_admin and not roles.is_portal_admin(user):
        roles.set_portal_admin(user, True)
        user.groups.add(marker)
        record("user.portal_admin_granted", user, data={"by": BY_GROUP_MAPPING})
    elif not portal_admin and by_mapping:
        user.groups.remove(marker)
        roles.set_portal_admin(user, False)
        record("user.portal_admin_revoked", user, data={"by": BY_GROUP_MAPPING})
