"""Microsoft Graph, the little the portal's sign-in needs: getMemberGroups (the groups overage
case), and the /_sandbox/ hook that puts a user in a group or takes them out (for tests).

Reference: https://learn.microsoft.com/graph/api/directoryobject-getmembergroups
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import scopes as scopes_mod
from .. import tokens
from .common import backchannel_base, current

ODATA_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)"


def _graph_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
@require_POST
def get_member_groups(request: HttpRequest, user_id: str = "") -> HttpResponse:
    """POST /graph/v1.0/users/{id | userPrincipalName}/getMemberGroups and /graph/v1.0/me/getMemberGroups
    with {"securityEnabledOnly": bool}: {"value": [group ids]} (every sandbox group is a security group)."""
    store = current()
    header = request.headers.get("Authorization", "")
    try:
        claims = tokens.verify(header[7:].strip(), key=store.material.signing_key, kid=store.material.kid,
                               audience=scopes_mod.GRAPH_URI,
                               iss=tokens.issuer(backchannel_base(), store.directory.tenant.id))
    except tokens.InvalidToken as exc:
        return _graph_error(401, "InvalidAuthenticationToken", str(exc))
    try:
        body = json.loads(request.body or b"null")
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("securityEnabledOnly"), bool):
        return _graph_error(400, "Request_BadRequest",
                            "The request body must be a JSON object with a boolean securityEnabledOnly.")
    wanted = (user_id or claims.get("oid", "")).lower()
    user = next((u for u in store.directory.users.values() if wanted in {u.oid.lower(), u.upn.lower()}), None)
    if user is None:
        return _graph_error(404, "Request_ResourceNotFound",
                            f"Resource '{user_id or 'me'}' does not exist or one of its queried reference-property "
                            "objects are not present.")
    return JsonResponse({"@odata.context": ODATA_CONTEXT, "value": store.directory.groups_of(user)})


@csrf_exempt
@require_POST
def group_members(request: HttpRequest, group_id: str) -> HttpResponse:
    """/_sandbox/groups/{id}/members {"upn": ..., "member": true|false}: add or remove a member."""
    store = current()
    group = store.directory.groups.get(group_id.lower())
    try:
        body = json.loads(request.body or b"{}")
    except json.JSONDecodeError:
        body = None
    if group is None:
        return JsonResponse({"error": f"no group {group_id}"}, status=404)
    if not isinstance(body, dict) or store.directory.user(str(body.get("upn", ""))) is None:
        return JsonResponse({"error": "give the upn of a sandbox user"}, status=400)
    upn = str(body["upn"]).strip().lower()
    if body.get("member", True):
        group.members.add(upn)
    else:
        group.members.discard(upn)
    return JsonResponse({"id": group.id, "name": group.name, "members": sorted(group.members)})
