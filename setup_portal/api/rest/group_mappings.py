"""Entra ID group mappings: what the Users › Entra ID groups page lets portal administrators do.

The page's form checks the values and accounts.entra's actions make and remove the mapping (with
its own refusals: a mapping that gives nothing, a group already mapped to that team), audited there;
this module only translates them into JSON and problem details.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework.response import Response

from setup_portal.accounts.entra import do_create_group_mapping, do_delete_group_mapping
from setup_portal.accounts.forms import GroupMappingForm
from setup_portal.teams.models import GroupMapping

from ..problems import Problem
from . import examples as ex
from . import people_serializers as s
from .base import TAKEN, conflict, invalid
from .pagination import paginate
from .people import FOR_PORTAL_ADMINS, PortalAdminView, _body, _pk
from .schema import PAGING, operation
from .serializers import page_of

MAPPING_ID = OpenApiParameter("mapping_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                              description="The group mapping's id.")
TAKES_EFFECT = " It takes effect at each member's next sign-in with Microsoft."
TAGS = ["Entra ID groups"]


def _mapping(mapping_id: str) -> GroupMapping:
    try:
        return GroupMapping.objects.select_related("team").get(pk=_pk(mapping_id, "group mapping"))
    except GroupMapping.DoesNotExist:
        raise Problem(404, "No such group mapping.") from None


class GroupMappingList(PortalAdminView):
    @operation(summary="List Entra ID group mappings", operation_id="listGroupMappings",
               examples=[ex.GROUP_MAPPING_PAGE],
               description="Which Entra ID groups give which team roles and portal administration at sign-in "
                           "with Microsoft." + FOR_PORTAL_ADMINS,
               parameters=PAGING, responses={200: page_of(s.GroupMappingOut(), "GroupMappingPage")},
               errors=(400, 422), tags=TAGS)
    def get(self, request):
        rows = GroupMapping.objects.select_related("team").order_by("group_id", "pk")
        page, links = paginate(request, rows)
        return Response({"results": s.GroupMappingOut(page, many=True).data, **links})

    @operation(summary="Map an Entra ID group", operation_id="createGroupMapping",
               description="As on the Users › Entra ID groups page: the group's members get a role (admin or "
                           "team lead) in a team, or portal administration, or both." + TAKES_EFFECT
                           + FOR_PORTAL_ADMINS,
               request=s.GroupMappingIn, responses={201: s.GroupMappingOut}, errors=(400,), tags=TAGS,
               error_text={409: "The group is mapped to this team (or to portal administration) already; remove "
                                "that mapping first.",
                           422: "The page's rules: `team` names an existing team and needs `role`; the mapping "
                                "gives a team role, portal administration or both."},
               examples=[OpenApiExample("Team leads of a team", request_only=True, value={
                   "group_id": "5b7e3c1a-9d2f-4e8b-a6c4-1f0e2d3c4b5a", "team": 1, "role": "teamlead"}),
                   ex.NEW_GROUP_MAPPING])
    def post(self, request):
        data = _body(s.GroupMappingIn, request)
        form = GroupMappingForm({"group_id": data["group_id"], "team": data.get("team", ""),
                                 "role": data.get("role", ""), "portal_admin": data["portal_admin"]})
        if not form.is_valid():
            raise invalid(form)
        cleaned = form.cleaned_data
        try:
            mapping = do_create_group_mapping(cleaned["group_id"], team=cleaned["team"], role=cleaned["role"],
                                              portal_admin=cleaned["portal_admin"], acting_user=request.user)
        except ValidationError as exc:
            if exc.code == TAKEN:
                raise conflict({"group_id": exc.messages}) from None
            raise Problem(422, "Some values are not valid.", slug="validation",
                          errors={"non_field_errors": exc.messages}) from None
        except IntegrityError:  # the same mapping, sent twice at once
            raise conflict({"group_id": ["This group was just mapped to this team; remove that mapping "
                                         "first."]}) from None
        body = s.GroupMappingOut(mapping).data
        return Response(body, status=201, headers={"Location": body["url"]})


class GroupMappingDetail(PortalAdminView):
    @operation(summary="Remove an Entra ID group mapping", operation_id="deleteGroupMapping",
               description="Its members keep what it gave them until their next sign-in with Microsoft, which "
                           "takes it away (unless another mapping of their groups gives it)." + FOR_PORTAL_ADMINS,
               parameters=[MAPPING_ID], responses={204: OpenApiResponse(description="Removed.")}, errors=(404,),
               tags=TAGS)
    def delete(self, request, mapping_id):
        do_delete_group_mapping(_mapping(mapping_id), acting_user=request.user)
        return Response(status=204)
