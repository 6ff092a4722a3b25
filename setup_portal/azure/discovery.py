"""Environment discovery: which Dynamics environments can the signed-in admin open?

"Find my environments" at the Environment stage signs the admin in with Microsoft's public
Dataverse client (settings.CUSTOM_AUTH_CLIENT_ID; the sandbox's public client when the sandbox
tenant is chosen), auth code + PKCE, answer posted back like every sign-in, and asks the Global
Discovery Service of the chosen cloud for the user's environments. The token is used for that
one call and dropped: no Authorization row, no token cache. What was found (names and URLs,
nothing secret) stays on the flow row for LIST_LIFETIME, then is emptied.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/discover-url-organization-web-api
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from setup_portal.dataverse import client as dataverse
from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl, normalize_dynamics_url
from setup_portal.text import storable

from . import client
from .client import AzureError, Credentials
from .clouds import AuthType, Cloud
from .models import FLOW_LIFETIME, AuthFlow

# The list is for picking one now; after this it is forgotten (a new search is one sign-in away).
LIST_LIFETIME = timedelta(minutes=15)
MAX_ENVIRONMENTS = 200
SANDBOX = "sandbox"


@dataclass(frozen=True)
class Service:
    """One Global Discovery Service: where it lives and which cloud its users sign in to."""

    key: str
    label: str
    cloud: str
    host: str  # empty for the sandbox tenant, whose service is on its own HTTPS origin


# The five clouds Microsoft documents; GCC signs in worldwide, DoD with US Government.
SERVICES: dict[str, Service] = {s.key: s for s in [
    Service("commercial", "Commercial (worldwide)", Cloud.PUBLIC, "globaldisco.crm.dynamics.com"),
    Service("gcc", "US Government Community Cloud (GCC)", Cloud.PUBLIC, "globaldisco.crm9.dynamics.com"),
    Service("usg", "US Government GCC High", Cloud.USGOV, "globaldisco.crm.microsoftdynamics.us"),
    Service("dod", "US Government DoD", Cloud.USGOV, "globaldisco.crm.appsplatform.us"),
    Service("china", "China (operated by 21Vianet)", Cloud.CHINA, "globaldisco.crm.dynamics.cn"),
    Service(SANDBOX, "Sandbox tenant (local, for trying the portal)", Cloud.PUBLIC, ""),
]}


def service_choices() -> list[tuple[str, str]]:
    return [(s.key, s.label) for s in SERVICES.values() if s.key != SANDBOX or settings.SANDBOX_ENABLED]


def service_base(key: str) -> str:
    """https://<discovery host> for a service: the token's resource and the API's origin."""
    service = SERVICES.get(key)
    if service is None:
        raise AzureError("unknown_cloud", f"Unknown discovery service {key!r}.")
    if service.key == SANDBOX:
        if not settings.SANDBOX_ENABLED:
            raise AzureError("sandbox_disabled", "The sandbox tenant is not enabled on this portal.")
        from setup_portal.sandbox.info import bases

        return bases()[1]
    return f"https://{service.host}"


def credentials(key: str, tenant: str) -> Credentials:
    """Sign-in details for discovery: no client ID, so msal uses the public client (client._public_client_id),
    and the "Dynamics URL" is the discovery service, so the scope asked is <service>/user_impersonation."""
    return Credentials(cloud=SERVICES[key].cloud, tenant=tenant, use_sandbox=key == SANDBOX,
                       auth_type=AuthType.OAUTH2, dynamics_url=service_base(key))


def sandbox_tenant() -> str:
    from setup_portal.sandbox.info import sandbox_info

    return sandbox_info()["tenant_id"]


def do_start_discovery(*, user, setup, service: str, tenant: str, redirect_uri: str) -> str:
    """Begin the sign-in for "Find my environments"; returns the URL to send the browser to."""
    flow = client.start_auth_code_flow(credentials(service, tenant), redirect_uri=redirect_uri, public=True)
    AuthFlow.objects.create(state=flow["state"], user=user, setup=setup, purpose=AuthFlow.Purpose.DISCOVERY,
                            flow=json.dumps(flow), discovered={"service": service, "tenant": tenant},
                            expires_at=timezone.now() + FLOW_LIFETIME)
    return flow["auth_uri"]


def complete_discovery(flow: AuthFlow, answer: dict) -> AuthFlow:
    """Azure AD's answer to a claimed discovery flow: redeem it, ask for the environments, keep the list.

    The tokens msal returns are used for the one call and go out of scope here.
    """
    where = dict(flow.discovered or {})
    try:
        if answer.get("error"):
            raise client.error_from_redirect(answer)
        creds = credentials(str(where.get("service", "")), str(where.get("tenant", "")))
        result = client.redeem_auth_code(creds, flow=json.loads(str(flow.flow)), answer=answer, public=True)
        environments = fetch_instances(creds.dynamics_url, result.access_token, use_sandbox=creds.use_sandbox)
    except AzureError as exc:
        flow.record_error(exc.code, exc.description)
        return flow
    flow.discovered = {**where, "signed_in_as": result.claims.get("preferred_username", ""),
                       "tenant_id": result.claims.get("tid", ""), "found_at": timezone.now().isoformat(),
                       "environments": environments}
    flow.save(update_fields=["discovered"])
    return flow


def fetch_instances(base: str, access_token: str, *, use_sandbox: bool) -> list[dict]:
    """GET <base>/api/discovery/v2.0/Instances with the user's token: the environments, checked and sorted."""
    try:
        rows = dataverse.discovery_instances(base, access_token, use_sandbox=use_sandbox)
    except dataverse.DataverseError as exc:
        raise AzureError(exc.code, exc.message, retryable=exc.retryable, retry_after=exc.retry_after) from None
    found = [_environment(row, use_sandbox=use_sandbox) for row in rows[:MAX_ENVIRONMENTS] if isinstance(row, dict)]
    return sorted(found, key=lambda e: (e["state"] != 0, e["friendly_name"].lower()))


def _text(row: dict, key: str, limit: int = 200) -> str:
    value = row.get(key)
    return storable(str(value))[:limit] if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _environment(row: dict, *, use_sandbox: bool) -> dict:
    """One Instances row as the portal keeps it, with whether the URL guard lets it be picked."""
    state, kind = row.get("State"), row.get("OrganizationType")
    env = {"id": _text(row, "Id", 64), "friendly_name": _text(row, "FriendlyName") or _text(row, "UniqueName"),
           "unique_name": _text(row, "UniqueName"), "url": _text(row, "Url", 2048),
           "api_url": _text(row, "ApiUrl", 2048),
           "region": _text(row, "Region", 40), "version": _text(row, "Version", 40),
           "state": state if isinstance(state, int) and not isinstance(state, bool) else -1,
           "tenant_id": _text(row, "TenantId", 64), "environment_id": _text(row, "EnvironmentId", 64),
           "kind": dataverse.organization_type(kind) if type(kind) is int else "",
           "usable": False, "reason": ""}
    if env["state"] != 0:
        env["reason"] = "Disabled" if env["state"] == 1 else "Not available"
        return env
    try:
        env["url"] = normalize_dynamics_url(env["url"], sandbox_allowed=settings.SANDBOX_ENABLED and use_sandbox).url
    except InvalidDynamicsUrl as exc:
        env["reason"] = exc.message
        return env
    env["usable"] = True
    return env


def current(setup, user_id: int | None = None) -> AuthFlow | None:
    """The latest discovery the setup's owner finished within LIST_LIFETIME (with its list or its error).

    Older lists are emptied on the way: they were for picking then, not for keeping.
    """
    user_id = user_id if user_id is not None else setup.owner_id
    cutoff = timezone.now() - LIST_LIFETIME
    lists = AuthFlow.objects.filter(purpose=AuthFlow.Purpose.DISCOVERY, discovered__has_key="environments")
    lists.filter(user_id=user_id, consumed_at__lt=cutoff).update(discovered={})
    return lists.filter(user_id=user_id, setup=setup, consumed_at__gte=cutoff).order_by("-consumed_at").first()


def forget(setup) -> None:
    """The admin picked (or typed) an environment: the list has done its job."""
    AuthFlow.objects.filter(purpose=AuthFlow.Purpose.DISCOVERY, setup=setup,
                            discovered__has_key="environments").update(discovered={})
