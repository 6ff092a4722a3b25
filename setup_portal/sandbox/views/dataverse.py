"""A small Dataverse Web API: the service document, $metadata, WhoAmI, RetrieveCurrentOrganization,
organizations, EntityDefinitions (views/metadata.py) and the entity sets of data/schema.py
(views/records.py), each guarded like the real service: bearer token, membership of the environment, security role,
service protection limits.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/overview
"""

from __future__ import annotations

import time
import uuid

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .. import tokens
from ..data.errors import INVALID_ARGUMENT, DataverseError
from ..data.schema import REGISTRATION_TABLES, TABLES, Table
from ..directory import Environment
from . import batch, metadata, multiple, plugins, records
from .common import backchannel_base, browser_base, current

NOT_A_MEMBER = ("0x80072560", "The user is not a member of the organization.")
VERIFIED_CACHE_SIZE = 2048
# Bearer tokens whose signature was checked, per audience: clients send the same token for an
# hour, and the RSA check is a third of a small request's cost. Expiry is checked on every use.
_verified: dict[tuple[str, str], dict] = {}


def _json(data: dict, status: int = 200) -> HttpResponse:
    return records.json_response(data, status)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    response = _json({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _unauthorized(env: Environment, reason: str = "") -> HttpResponse:
    """401 with the challenge clients use to find the authority, as Dataverse sends it."""
    tenant_id = current().directory.tenant.id
    challenge = (f'Bearer authorization_uri={browser_base()}/{tenant_id}/oauth2/authorize, '
                 f'resource_id={env.url(backchannel_base())}/')
    if reason:
        challenge = f'Bearer error="invalid_token", error_description="{reason}", ' + challenge[len("Bearer "):]
    response = HttpResponse(b"", status=401)
    # An empty body, as Dataverse sends it: no Content-Type (Django's default would call it HTML).
    del response["Content-Type"]
    response["WWW-Authenticate"] = challenge
    return response


def _principal(request: HttpRequest, env: Environment) -> dict | HttpResponse:
    """The Dataverse user (systemuser) behind the bearer token, or the 401/403 to answer."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        return _unauthorized(env)
    store = current()
    tenant_id = store.directory.tenant.id
    try:
        claims = _verified_claims(header[7:].strip(), env, store, tenant_id)
    except tokens.InvalidToken as exc:
        return _unauthorized(env, str(exc))
    if claims.get("tid") != tenant_id:
        return _unauthorized(env, "The token is for another tenant.")
    if claims.get("idtyp") == "app":
        # Server-to-server access needs an application user in the environment.
        member = env.application_user(str(claims.get("appid", "")))
    else:
        if "user_impersonation" not in str(claims.get("scp", "")).split():
            return _unauthorized(env, "The token does not carry the user_impersonation scope.")
        member = env.system_user(str(claims.get("preferred_username", "")))
    if member is None:
        return _error(403, *NOT_A_MEMBER)
    return member


def _verified_claims(token: str, env: Environment, store, tenant_id: str) -> dict:
    audience = env.url(backchannel_base())
    claims = _verified.get((token, audience))
    if claims is None:
        claims = tokens.verify(token, key=store.material.signing_key, kid=store.material.kid, audience=audience,
                               iss=tokens.issuer(backchannel_base(), tenant_id))
        if len(_verified) >= VERIFIED_CACHE_SIZE:
            _verified.clear()
        _verified[(token, audience)] = claims
    elif claims["exp"] + tokens.CLOCK_SKEW < time.time():
        raise tokens.InvalidToken("The token is expired.")
    return claims


def _missing_privilege(member: dict, entity: str) -> HttpResponse:
    privilege = "prvRead" + entity[:1].upper() + entity[1:]
    return _error(403, "0x80040220",
                  f"Principal user (Id={member['systemuserid']}, type=8, roleCount=0, privilegeCount=0, "
                  f"accessMode=4), is missing {privilege} privilege on entity '{entity}'. Assign a security role "
                  f"that grants it.")


@csrf_exempt
def not_web_api(request: HttpRequest, env_name: str, path: str = "") -> HttpResponse:
    """Anything under an environment's host that is not the v9.2 Web API (its root too): Dataverse's JSON
    error, not a page."""
    segment = path.split("/", 1)[0][:100] or env_name[:100]
    response = _error(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")
    response["x-ms-service-request-id"] = str(uuid.uuid4())
    return response


@csrf_exempt
def web_api(request: HttpRequest, env_name: str, path: str) -> HttpResponse:
    response = _served(request, env_name, path)
    # Dataverse names each request it served (errors too), for support cases and the caller's logs.
    response["x-ms-service-request-id"] = str(uuid.uuid4())
    return response


def _served(request: HttpRequest, env_name: str, path: str) -> HttpResponse:
    store = current()
    env = store.directory.environments.get(env_name)
    if env is None:
        return _error(404, "0x8006088a", f"Resource not found for the segment '{env_name[:100]}'.")
    member = _principal(request, env)
    if isinstance(member, HttpResponse):
        return member
    # Service protection: counted per user and environment, after authentication.
    key = (env_name, member["systemuserid"])
    try:
        event = store.limiter.enter(key, member.get("upn") or member.get("client_id", ""))
    except DataverseError as exc:
        return _error(exc.status, exc.code, exc.message, exc.headers)
    started = time.perf_counter()
    try:
        delay = store.limiter.limits.delay_ms
        if delay:
            time.sleep(delay / 1000)
        try:
            response = _answer(request, env, member, path)
        except DataverseError as exc:
            response = _error(exc.status, exc.code, exc.message, exc.headers)
    finally:
        store.limiter.leave(key, event, time.perf_counter() - started)
    requests_left, time_left = store.limiter.remaining(key)
    response["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(requests_left)
    response["x-ms-ratelimit-time-remaining-xrm-requests"] = str(time_left)
    return response


def _answer(request: HttpRequest, env: Environment, member: dict, path: str) -> HttpResponse:
    base = f"{env.url(backchannel_base())}/api/data/v9.2"
    segment = path.split("(", 1)[0].rstrip("/")
    entity_set = segment.split("/", 1)[0]
    if entity_set in TABLES:
        if not member.get("roles"):
            return _missing_privilege(member, TABLES[entity_set].logical_name)
        _refuse_untracked(request, TABLES[entity_set])
        data = current().data[env.name]
        if segment.startswith(f"{entity_set}/{multiple.NAMESPACE}"):
            return multiple.handle(request, data, data.principal(member), base, TABLES[entity_set],
                                   segment[len(entity_set) + 1:])
        return records.handle(request, data, data.principal(member), base, path)
    if entity_set in REGISTRATION_TABLES:
        if not member.get("roles"):
            return _missing_privilege(member, REGISTRATION_TABLES[entity_set].logical_name)
        return plugins.handle(request, current().data[env.name].plugins, member, base, path)
    if segment == "$batch":
        return batch.handle(request, current().data[env.name], base,
                            lambda part, part_path: _answer(part, env, member, part_path),
                            current().limiter.limits.delay_ms)
    if request.method != "GET":
        return _error(405, "0x80060888", f"The HTTP method '{request.method}' is not supported by the sandbox.")
    if segment == "":
        return metadata.service_document(base)
    if segment == "$metadata":
        return metadata.metadata_document(request)
    if segment == "WhoAmI":
        return _json({"@odata.context": f"{base}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                      "BusinessUnitId": env.root_business_unit()["id"], "UserId": member["systemuserid"],
                      "OrganizationId": env.organization_id})
    if not member.get("roles"):
        return _missing_privilege(member, "organization" if segment != "EntityDefinitions" else "entity")
    if segment == "RetrieveCurrentOrganization":
        return _json(_current_organization(env, base))
    if segment == "organizations":
        return _json({"@odata.context": f"{base}/$metadata#organizations",
                      "value": [{"organizationid": env.organization_id, "name": env.unique_name,
                                 "friendlyname": env.friendly_name}]})
    if segment == "EntityDefinitions":
        return metadata.entity_definitions(request, base, path)
    return _error(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


def _refuse_untracked(request: HttpRequest, table: Table) -> None:
    """Change tracking (`Prefer: odata.track-changes`, delta tokens) only on tables that have it enabled."""
    if table.change_tracking:
        return
    if "odata.track-changes" in request.headers.get("Prefer", "") or "$deltatoken" in request.GET:
        raise DataverseError(400, INVALID_ARGUMENT,
                             f"Change tracking is not enabled for the entity '{table.logical_name}': "
                             f"set ChangeTrackingEnabled on its EntityDefinitions first.")


def _current_organization(env: Environment, base: str) -> dict:
    web = env.url(backchannel_base())
    return {
        "@odata.context": f"{base}/$metadata#Microsoft.Dynamics.CRM.RetrieveCurrentOrganizationResponse",
        "Detail": {
            "OrganizationId": env.organization_id, "FriendlyName": env.friendly_name,
            "OrganizationVersion": env.version, "EnvironmentId": env.environment_id, "Geo": env.geo,
            "TenantId": current().directory.tenant.id, "UrlName": env.unique_name, "UniqueName": env.unique_name,
            "State": "Enabled", "DatacenterId": env.environment_id,
            "OrganizationType": env.organization_type_name, "SchemaType": "Standard",
            "Endpoints": {"Count": 3, "IsReadOnly": False,
                          "Keys": ["WebApplication", "OrganizationService", "OrganizationDataService"],
                          "Values": [f"{web}/", f"{web}/XRMServices/2011/Organization.svc",
                                     f"{web}/XRMServices/2011/OrganizationData.svc"]},
        },
    }
