"""Turning a `scope` parameter into one resource and its permissions, as Azure does.

`https://127.0.0.1:8443/dataverse/contoso/user_impersonation` names the Dynamics CRM
resource of environment "contoso"; `User.Read` or `https://graph.microsoft.com/User.Read`
names Microsoft Graph; `https://127.0.0.1:8443/user_impersonation` (the sandbox's own origin,
standing in for https://globaldisco.crm.dynamics.com) names the Global Discovery Service;
`openid profile email offline_access` are OpenID Connect scopes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .directory import GRAPH_URI, OIDC_SCOPES, RESOURCES, App, Directory
from .errors import AadError


@dataclass
class ScopeRequest:
    oidc: list[str]
    resource: str
    environment: str
    permissions: list[str]
    resource_uri: str

    @property
    def audience(self) -> str:
        return self.resource_uri

    def qualified(self, permissions: list[str]) -> list[str]:
        """Scopes as the token response lists them."""
        if self.resource == "graph":
            return list(permissions)
        return [f"{self.resource_uri}/{p}" for p in permissions]


def parse(scope: str, directory: Directory, backchannel_base: str) -> ScopeRequest:
    """Raise AadError 70011 (no scope), 500011 (unknown resource) or 28000 (several resources)."""
    items = scope.split()
    if not items:
        raise AadError(70011, detail="The provided request must include a 'scope' input parameter.")
    oidc = [s for s in items if s in OIDC_SCOPES]
    found: dict[tuple[str, str, str], list[str]] = {}
    for item in items:
        if item in OIDC_SCOPES:
            continue
        if "/" not in item:
            key = ("graph", "", GRAPH_URI)
            permission = item
        else:
            uri, _, permission = item.rpartition("/")
            key = _resource_for(uri.rstrip("/"), directory, backchannel_base)
        found.setdefault(key, [])
        if permission not in found[key]:
            found[key].append(permission)
    if len(found) > 1:
        raise AadError(28000, scope=scope)
    if not found:
        # Only OpenID scopes: Azure issues a Graph token for User.Read.
        return ScopeRequest(oidc, "graph", "", [], GRAPH_URI)
    (resource, environment, uri), permissions = next(iter(found.items()))
    return ScopeRequest(oidc, resource, environment, permissions, uri)


def _resource_for(uri: str, directory: Directory, backchannel_base: str) -> tuple[str, str, str]:
    if uri.lower() == GRAPH_URI:
        return ("graph", "", GRAPH_URI)
    if uri.lower() == discovery_uri(backchannel_base).lower():
        return ("discovery", "", discovery_uri(backchannel_base))
    for env in directory.environments.values():
        env_url = env.url(backchannel_base)
        if uri.lower() == env_url.lower():
            return ("dynamics", env.name, env_url)
    raise AadError(500011, resource=uri, tenant=directory.tenant.domain)


def discovery_uri(backchannel_base: str) -> str:
    """The Global Discovery Service's resource (token audience): the sandbox's HTTPS origin, whose
    /api/discovery/v2.0/Instances lists the environments, as globaldisco.crm.dynamics.com does."""
    return backchannel_base


def delegated_permissions(request: ScopeRequest, app: App) -> list[str]:
    """The permissions a user token will carry; `.default` means all the app asks for.

    Raise AadError 650057 when the app registration does not list the resource or a
    permission it asks for.
    """
    configured = app.permissions.get(request.resource, [])
    wanted = configured if request.permissions in ([], [".default"]) else request.permissions
    if request.resource == "graph" and not request.permissions:
        return []
    if not configured or any(p not in configured for p in wanted):
        valid = ", ".join(f"{RESOURCES[r]['app_id']}" for r in app.permissions) or "none"
        raise AadError(650057, client_id=app.client_id, name=app.name, resource=request.resource_uri,
                       resource_app_id=RESOURCES[request.resource]["app_id"], valid=valid)
    return list(wanted)
