"""The Global Discovery Service: which Dataverse environments the signed-in user can open.

`GET /api/discovery/v2.0/Instances` on the sandbox's HTTPS origin answers what
`https://globaldisco.crm.dynamics.com/api/discovery/v2.0/Instances` answers for a delegated
token with that audience: an OData collection of the environments the user is a member of,
disabled ones included (State 1).

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/discover-url-organization-web-api
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from .. import scopes, tokens
from .common import backchannel_base, browser_base, current


def _challenge(reason: str = "") -> HttpResponse:
    tenant_id = current().directory.tenant.id
    challenge = (f"Bearer authorization_uri={browser_base()}/{tenant_id}/oauth2/authorize, "
                 f"resource_id={scopes.discovery_uri(backchannel_base())}/")
    if reason:
        challenge = f'Bearer error="invalid_token", error_description="{reason}", ' + challenge[len("Bearer "):]
    response = HttpResponse(b"", status=401)
    response["WWW-Authenticate"] = challenge
    return response


def _error(status: int, code: str, message: str) -> HttpResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@require_GET
def instances(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        return _challenge()
    store = current()
    directory = store.directory
    try:
        claims = tokens.verify(header[7:].strip(), key=store.material.signing_key, kid=store.material.kid,
                               audience=scopes.discovery_uri(backchannel_base()),
                               iss=tokens.issuer(backchannel_base(), directory.tenant.id))
    except tokens.InvalidToken as exc:
        return _challenge(str(exc))
    if claims.get("tid") != directory.tenant.id:
        return _challenge("The token is for another tenant.")
    if claims.get("idtyp") == "app":
        # The service lists what a user can open; an application has no such list.
        return _error(403, "Forbidden", "The Global Discovery Service accepts only delegated (user) tokens.")
    if "user_impersonation" not in str(claims.get("scp", "")).split():
        return _challenge("The token does not carry the user_impersonation scope.")
    upn = str(claims.get("preferred_username", ""))
    base = backchannel_base()
    value = []
    for env in directory.environments.values():
        member = env.system_user(upn)
        if member is None:
            continue
        url = env.url(base)
        value.append({
            "Id": env.organization_id, "UniqueName": env.unique_name, "UrlName": env.name,
            "FriendlyName": env.friendly_name, "State": env.state, "Version": env.version,
            # Dataverse has a separate api. host; the sandbox serves the Web API under the same URL.
            "Url": url, "ApiUrl": url, "Region": env.geo, "LastUpdated": None, "TrialExpirationDate": None,
            "IsUserSysAdmin": "System Administrator" in member.get("roles", []), "Purpose": "",
            "OrganizationType": env.organization_type, "TenantId": directory.tenant.id,
            "EnvironmentId": env.environment_id, "DatacenterId": None, "SchemaType": "Standard",
        })
    response = JsonResponse({"@odata.context": f"{scopes.discovery_uri(base)}/api/discovery/v2.0/$metadata#Instances",
                             "value": value})
    response["OData-Version"] = "4.0"
    return response
