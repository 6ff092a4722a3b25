"""Teams, memberships and users: what the Users and Teams pages let portal administrators do.

The pages' forms check the values and the accounts actions make the changes (with their own
refusals: a duplicate team name, the last portal administrator, taking away your own portal
administration); this module only translates them into JSON and problem details.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework.response import Response

from setup_portal.accounts.actions import (
    do_add_membership,
    do_change_membership_role,
    do_create_team,
    do_create_user,
    do_remove_membership,
    do_rename_team,
    do_set_portal_admin,
)
from setup_portal.accounts.forms import AddMemberForm, AddUserForm, RoleForm, TeamNameForm
from setup_portal.teams import permissions
from setup_portal.teams.models import Membership, Team
from setup_portal.text import whole_number

from ..problems import Problem
from . import examples as ex
from . import people_serializers as s
from .base import ManagementView, PortalUser, conflict, invalid
from .pagination import paginate
from .schema import PAGING, operation
from .serializers import page_of

TEAM_ID = OpenApiParameter("team_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The team's id.")
USER_ID = OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The user's id.")
MEMBERSHIP_ID = OpenApiParameter("membership_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                 description="The membership's id (in a team's `members` or a user's `teams`).")
FOR_PORTAL_ADMINS = " Portal administrators only."
TEAM_NAME_TAKEN = "A team with this name exists already (whatever the case, spaces tidied)."


class PortalAdministrator(PortalUser):
    message = "This is for portal administrators."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and permissions.is_portal_admin(request.user)


class PortalAdminView(ManagementView):
    permission_classes = [PortalAdministrator]


def _pk(value: str, what: str) -> int:
    pk = whole_number(value)
    if pk is None or pk > s.MAX_ID:
        raise Problem(404, f"No such {what}.")
    return pk


def _teams():
    return Team.objects.prefetch_related(Prefetch("memberships", Membership.objects.select_related("user")))


def _users():
    return get_user_model().objects.prefetch_related(
        "groups", Prefetch("memberships", Membership.objects.select_related("team")))


def _team(team_id: str) -> Team:
    try:
        return _teams().get(pk=_pk(team_id, "team"))
    except Team.DoesNotExist:
        raise Problem(404, "No such team.") from None


def _user(user_id: str):
    User = get_user_model()
    try:
        return _users().get(pk=_pk(user_id, "user"))
    except User.DoesNotExist:
        raise Problem(404, "No such user.") from None


def _membership(membership_id: str) -> Membership:
    try:
        return Membership.objects.select_related("user", "team").get(pk=_pk(membership_id, "membership"))
    except Membership.DoesNotExist:
        raise Problem(404, "No such membership.") from None


def _taken(field: str, exc: ValidationError) -> Problem:
    """The accounts actions' last refusal once the form passed: the name or membership exists already."""
    return conflict({field: exc.messages})


def _body(serializer_class, request, *, partial: bool = False) -> dict:
    """The request's JSON, type-checked; `partial` for a PATCH, which sends only what changes."""
    body = serializer_class(data=request.data, partial=partial)
    body.is_valid(raise_exception=True)
    return body.validated_data


def _team_name(data: dict) -> str:
    form = TeamNameForm(data)
    if not form.is_valid():
        raise invalid(form)
    return form.cleaned_data["name"]


def _team_out(team: Team) -> dict:
    return s.TeamOut(_team(str(team.pk))).data


def _user_out(user) -> dict:
    return s.UserOut(_user(str(user.pk))).data


class TeamList(PortalAdminView):
    @operation(summary="List teams", operation_id="listTeams", examples=[ex.TEAM_PAGE],
               description="Every team with its members and their roles." + FOR_PORTAL_ADMINS,
               parameters=PAGING, responses={200: page_of(s.TeamOut(), "TeamPage")}, errors=(400, 422),
               tags=["Teams"])
    def get(self, request):
        page, links = paginate(request, _teams().order_by("name", "pk"))
        return Response({"results": s.TeamOut(page, many=True).data, **links})

    @operation(summary="Create a team", operation_id="createTeam",
               description="As on the Teams page: the name is trimmed and must be unique whatever the case. "
                           "Next, add its admins and team leads (`POST /api/v1/teams/{id}/members`)."
                           + FOR_PORTAL_ADMINS,
               request=s.TeamIn, responses={201: s.TeamOut}, errors=(400,), tags=["Teams"],
               error_text={409: TEAM_NAME_TAKEN},
               examples=[OpenApiExample("A name", request_only=True, value={"name": "EMEA sales"}),
                         ex.NEW_TEAM])
    def post(self, request):
        name = _team_name(_body(s.TeamIn, request))
        try:
            team = do_create_team(name, acting_user=request.user)
        except ValidationError as exc:
            raise _taken("name", exc) from None
        except IntegrityError:  # created by someone else between the check and the insert
            raise conflict({"name": [f"A team named “{name}” was just created; pick another name."]}) from None
        data = _team_out(team)
        return Response(data, status=201, headers={"Location": data["url"]})


class TeamDetail(PortalAdminView):
    @operation(summary="Get a team", operation_id="getTeam", examples=[ex.TEAM],
               description="Its name and members with their roles." + FOR_PORTAL_ADMINS,
               parameters=[TEAM_ID], responses={200: s.TeamOut}, errors=(404,), tags=["Teams"])
    def get(self, request, team_id):
        return Response(s.TeamOut(_team(team_id)).data)

    @operation(summary="Rename a team", operation_id="renameTeam",
               description="The Teams page's rules: trimmed, unique whatever the case. Its setups, instances "
                           "and members stay." + FOR_PORTAL_ADMINS,
               parameters=[TEAM_ID], request=s.TeamIn, responses={200: s.TeamOut}, errors=(400, 404), tags=["Teams"],
               error_text={409: TEAM_NAME_TAKEN},
               examples=[OpenApiExample("A new name", request_only=True, value={"name": "EMEA sales"}), ex.TEAM])
    def patch(self, request, team_id):
        team = _team(team_id)
        data = _body(s.TeamIn, request, partial=True)
        if "name" not in data:
            return Response(_team_out(team))
        name = _team_name(data)
        try:
            do_rename_team(team, name, acting_user=request.user)
        except ValidationError as exc:
            raise _taken("name", exc) from None
        except IntegrityError:
            raise conflict({"name": [f"A team named “{name}” was just created; pick another name."]}) from None
        return Response(_team_out(team))


class TeamMembers(PortalAdminView):
    @operation(summary="Add a member to a team", operation_id="addTeamMember",
               description="An active user who is not in the team yet, as admin (sets up and manages the team's "
                           "instances) or team lead (reviews them, read-only)." + FOR_PORTAL_ADMINS,
               parameters=[TEAM_ID], request=s.MemberIn, responses={201: s.MembershipOut}, errors=(400, 404),
               error_text={409: "The user is in this team already: change their role under "
                                "`/api/v1/memberships/{id}` instead.",
                           422: "No active user has this id."},
               tags=["Teams"],
               examples=[OpenApiExample("A team lead", request_only=True, value={"user": 2, "role": "teamlead"}),
                         ex.MEMBERSHIP_ADDED])
    def post(self, request, team_id):
        team = _team(team_id)
        data = _body(s.MemberIn, request)
        if team.memberships.filter(user_id=data["user"]).exists():
            raise conflict({"user": ["This user is in the team already; change their role there instead."]})
        form = AddMemberForm(data, team=team)
        if not form.is_valid():
            raise invalid(form)
        try:
            membership = do_add_membership(form.cleaned_data["user"], team, form.cleaned_data["role"],
                                           acting_user=request.user)
        except ValidationError as exc:
            raise _taken("user", exc) from None
        data = s.MembershipOut(membership).data
        return Response(data, status=201, headers={"Location": data["url"]})


class MembershipDetail(PortalAdminView):
    @operation(summary="Change a member's role", operation_id="changeMembershipRole",
               description="Admin or team lead in that team; the person's other teams are left alone. The same "
                           "role again changes nothing." + FOR_PORTAL_ADMINS,
               parameters=[MEMBERSHIP_ID], request=s.RoleIn, responses={200: s.MembershipOut}, errors=(400, 404),
               tags=["Teams"],
               examples=[OpenApiExample("Make admin", request_only=True, value={"role": "admin"}),
                         ex.MEMBERSHIP])
    def patch(self, request, membership_id):
        membership = _membership(membership_id)
        data = _body(s.RoleIn, request, partial=True)
        if "role" not in data:
            return Response(s.MembershipOut(membership).data)
        form = RoleForm(data)
        if not form.is_valid():
            raise invalid(form)
        membership = do_change_membership_role(membership, Membership.Role(form.cleaned_data["role"]),
                                               acting_user=request.user)
        return Response(s.MembershipOut(membership).data)

    @operation(summary="Remove a member from a team", operation_id="removeMembership",
               description="They stop holding the role in that team at once and no longer see its setups and "
                           "instances; their own setups and instances stay with the team." + FOR_PORTAL_ADMINS,
               parameters=[MEMBERSHIP_ID], responses={204: OpenApiResponse(description="Removed.")}, errors=(404,),
               tags=["Teams"])
    def delete(self, request, membership_id):
        do_remove_membership(_membership(membership_id), acting_user=request.user)
        return Response(status=204)


class UserList(PortalAdminView):
    @operation(summary="List users", operation_id="listUsers", examples=[ex.USER_PAGE],
               description="Every user with their teams and roles." + FOR_PORTAL_ADMINS,
               parameters=PAGING, responses={200: page_of(s.UserOut(), "UserPage")}, errors=(400, 422),
               tags=["Users"])
    def get(self, request):
        page, links = paginate(request, _users().order_by("username", "pk"))
        return Response({"results": s.UserOut(page, many=True).data, **links})

    @operation(summary="Add a user", operation_id="createUser",
               description="As the Add user page: a unique user name, an optional e-mail address, a role in a "
                           "team (or none yet), optionally portal administration. The answer carries a generated "
                           "one-time `password`, shown this once (`Cache-Control: no-store`); pass it on, and "
                           "the person signs in with it." + FOR_PORTAL_ADMINS,
               request=s.UserIn, responses={201: s.NewUserOut}, errors=(400,), tags=["Users"],
               error_text={409: "A user with this name exists already (whatever the case).",
                           422: "The Add user page's rules: `team` names an existing team and is needed with "
                                "`role`; `email` is an address Django accepts."},
               examples=[OpenApiExample("A team lead", request_only=True, value={
                   "username": "bob", "email": "bob@example.com", "team": 1, "role": "teamlead"}), ex.NEW_USER])
    def post(self, request):
        data = _body(s.UserIn, request)
        values = {"username": data["username"], "email": data.get("email", ""), "team": data.get("team", ""),
                  "role": data.get("role", "")}
        if data["portal_admin"]:
            values["portal_admin"] = True
        form = AddUserForm(values)
        if not form.is_valid():
            raise invalid(form)
        cleaned = form.cleaned_data
        try:
            user, password = do_create_user(cleaned["username"], role=cleaned["role"] or None, team=cleaned["team"],
                                            email=cleaned["email"], portal_admin=cleaned["portal_admin"],
                                            acting_user=request.user)
        except IntegrityError:  # the same name, sent twice at once
            raise conflict({"username": ["A user with this name already exists."]}) from None
        body = {**_user_out(user), "password": password}
        return Response(body, status=201,
                        headers={"Location": body["url"], "Cache-Control": "no-store"})


class UserDetail(PortalAdminView):
    @operation(summary="Get a user", operation_id="getUser", examples=[ex.USER],
               description="Their teams and roles, and whether they are a portal administrator."
                           + FOR_PORTAL_ADMINS,
               parameters=[USER_ID], responses={200: s.UserOut}, errors=(404,), tags=["Users"])
    def get(self, request, user_id):
        return Response(s.UserOut(_user(user_id)).data)


class UserPortalAdmin(PortalAdminView):
    @operation(summary="Make a user a portal administrator", operation_id="grantPortalAdmin",
               description="They will manage users, teams and memberships and see every team's setups, "
                           "instances and audit events. Already one: nothing changes." + FOR_PORTAL_ADMINS,
               parameters=[USER_ID], request=None, responses={200: s.UserOut}, errors=(404,), tags=["Users"],
               examples=[ex.USER_PORTAL_ADMIN])
    def post(self, request, user_id):
        return Response(self._set(request, user_id, True))

    @operation(summary="Take portal administration away", operation_id="revokePortalAdmin",
               description="They keep their team roles. Refused (409) for yourself (ask another portal "
                           "administrator), for a superuser, and for the last portal administrator. Not one: "
                           "nothing changes." + FOR_PORTAL_ADMINS,
               parameters=[USER_ID], responses={200: s.UserOut}, errors=(404, 409), tags=["Users"],
               examples=[ex.USER])
    def delete(self, request, user_id):
        return Response(self._set(request, user_id, False))

    def _set(self, request, user_id: str, value: bool) -> dict:
        target = _user(user_id)
        try:
            do_set_portal_admin(target, value, acting_user=request.user)
        except ValidationError as exc:
            raise Problem(409, " ".join(exc.messages), title="Refused", slug="portal-admin-refused",
                          errors={"portal_administrator": exc.messages}) from None
        return _user_out(target)
