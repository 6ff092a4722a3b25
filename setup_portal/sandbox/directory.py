"""The sandbox tenant's directory: tenant, users, app registrations, consent grants and
Dataverse environments, read from the seed file that ships with the project.

Plain dataclasses read from JSON. Rows of the Dataverse tables live in data/store.py
(generated from each environment's `data` description).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

# Well-known first-party resources (application ids are Microsoft's real ones).
DYNAMICS_APP_ID = "00000007-0000-0000-c000-000000000000"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_URI = "https://graph.microsoft.com"

RESOURCES = {
    "dynamics": {"app_id": DYNAMICS_APP_ID, "name": "Dynamics CRM"},
    # The Global Discovery Service belongs to the Dynamics CRM service principal in Azure; the
    # sandbox keeps it apart so an app's permission for it is visible in seed.json.
    "discovery": {"app_id": DYNAMICS_APP_ID, "name": "Dynamics CRM (Global Discovery)"},
    "graph": {"app_id": GRAPH_APP_ID, "name": "Microsoft Graph"},
}

# What the consent page says for each delegated permission (Azure's own wording).
PERMISSION_TEXT = {
    ("dynamics", "user_impersonation"): "Access Dynamics 365 as organization users",
    ("discovery", "user_impersonation"): "Access Dynamics 365 as organization users",
    ("graph", "User.Read"): "Sign you in and read your profile",
}
OIDC_SCOPE_TEXT = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
}
OIDC_SCOPES = frozenset(OIDC_SCOPE_TEXT)


class SeedError(ValueError):
    """The seed file is missing, not JSON, or lacks a required field."""


@dataclass
class Secret:
    id: str
    value: str
    expires: date
    description: str = ""

    def is_expired(self, today: date | None = None) -> bool:
        return self.expires < (today or date.today())


@dataclass
class Certificate:
    """A certificate uploaded to an app registration: Entra keeps only the public part."""

    pem: str
    thumbprint: str  # SHA-1, upper-case hex (the `x5t` header, decoded)
    thumbprint_sha256: str  # base64url (the `x5t#S256` header)
    expires: date
    description: str = ""


@dataclass
class User:
    oid: str
    upn: str
    name: str
    password: str
    is_admin: bool = False
    mfa_required: bool = False


@dataclass
class App:
    client_id: str
    object_id: str
    name: str
    role: str
    multi_tenant: bool
    public_client: bool
    secrets: list[Secret]
    redirect_uris: list[str]
    permissions: dict[str, list[str]]
    certificates: list[Certificate] = field(default_factory=list)
    # The registration's groupMembershipClaims: its id_tokens carry a `groups` claim.
    group_membership_claims: bool = False

    def current_secret(self) -> Secret | None:
        valid = [s for s in self.secrets if not s.is_expired()]
        return max(valid, key=lambda s: s.expires) if valid else None

    def expired_secret(self) -> Secret | None:
        return next((s for s in self.secrets if s.is_expired()), None)


# OrganizationType's members by value; the Global Discovery Service gives the number, the Web API
# (an OData enum in JSON) the name.
# Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/organizationtype
ORGANIZATION_TYPE_NAMES = dict(enumerate((
    "Customer", "Monitoring", "Support", "BackEnd", "Secondary", "CustomerTest", "CustomerFreeTest",
    "CustomerPreview", "Placeholder", "TestDrive", "MsftInvestigation", "EmailTrial", "Default", "Developer",
    "Trial", "Teams", "Platform")))


@dataclass
class Environment:
    name: str
    friendly_name: str
    unique_name: str
    organization_id: str
    environment_id: str
    region: str
    geo: str
    version: str
    business_units: list[dict]
    users: list[dict]
    application_users: list[dict]
    data: dict
    state: int = 0  # as the Global Discovery Service says: 0 enabled, 1 disabled
    # Its OrganizationType: 0 Customer (production), 5 CustomerTest (sandbox); Contoso is the
    # rehearsal, Contoso Europe the production environment a rehearsal is promoted to.
    organization_type: int = 0

    @property
    def organization_type_name(self) -> str:
        """The OrganizationType member's name, as the Web API writes an enum (RetrieveCurrentOrganization)."""
        return ORGANIZATION_TYPE_NAMES.get(self.organization_type, str(self.organization_type))

    def url(self, backchannel_base: str) -> str:
        return f"{backchannel_base}/dataverse/{self.name}"

    def root_business_unit(self) -> dict:
        return next((bu for bu in self.business_units if bu.get("root")), self.business_units[0])

    def application_user(self, client_id: str) -> dict | None:
        return next((u for u in self.application_users if u["client_id"].lower() == client_id.lower()), None)

    def system_user(self, upn: str) -> dict | None:
        return next((u for u in self.users if u["upn"].lower() == upn.lower()), None)


@dataclass
class Group:
    """A security group; `members` are user principal names, lower-case."""

    id: str
    name: str
    members: set[str]


@dataclass
class Tenant:
    id: str
    domain: str
    name: str
    region: str
    users_can_consent: bool

    def matches(self, segment: str) -> bool:
        return segment.lower() in {self.id.lower(), self.domain.lower()}


@dataclass
class Directory:
    tenant: Tenant
    users: dict[str, User]
    apps: dict[str, App]
    grants: list[dict]
    environments: dict[str, Environment]
    extra: dict = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)

    def user(self, upn: str) -> User | None:
        return self.users.get(upn.strip().lower())

    def app(self, client_id: str) -> App | None:
        return self.apps.get(client_id.strip().lower())

    def app_by_role(self, role: str) -> App:
        return next(a for a in self.apps.values() if a.role == role)

    def default_environment(self) -> Environment:
        return next(iter(self.environments.values()))

    def groups_of(self, user: User) -> list[str]:
        """The object IDs of the groups `user` is a member of."""
        return [g.id for g in self.groups.values() if user.upn.lower() in g.members]


_RELATIVE = re.compile(r"^([+-]\d+)d$")


def _parse_expiry(raw: str, today: date) -> date:
    match = _RELATIVE.match(raw.strip())
    if match:
        return today + timedelta(days=int(match.group(1)))
    return date.fromisoformat(raw)


def load(path: Path, today: date | None = None) -> Directory:
    """Read the seed file; relative secret expiries are counted from `today`."""
    today = today or date.today()
    try:
        data = json.loads(Path(path).read_text())
        t = data["tenant"]
        tenant = Tenant(t["id"], t["domain"], t["name"], t.get("region", "NA"), bool(t.get("users_can_consent")))
        users = {u["upn"].lower(): User(u["oid"], u["upn"], u["name"], u["password"], bool(u.get("is_admin")),
                                        bool(u.get("mfa_required"))) for u in data["users"]}
        apps = {}
        for a in data["apps"]:
            secrets = [Secret(s["id"], s["value"], _parse_expiry(s["expires"], today), s.get("description", ""))
                       for s in a.get("secrets", [])]
            apps[a["client_id"].lower()] = App(
                a["client_id"], a["object_id"], a["name"], a.get("role", ""), bool(a.get("multi_tenant")),
                bool(a.get("public_client")), secrets, list(a.get("redirect_uris", [])),
                {k: list(v) for k, v in a.get("permissions", {}).items()},
                group_membership_claims=bool(a.get("group_membership_claims")),
            )
        environments = {
            e["name"]: Environment(
                e["name"], e["friendly_name"], e["unique_name"], e["organization_id"], e["environment_id"],
                e["region"], e.get("geo", "NA"), e["version"], e["business_units"], e.get("users", []),
                e.get("application_users", []), e.get("data", {}), int(e.get("state", 0)),
                int(e.get("organization_type", 0)),
            )
            for e in data["environments"]
        }
    except FileNotFoundError as exc:
        raise SeedError(f"Sandbox seed file not found: {path}") from exc
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SeedError(f"Sandbox seed file {path} is not valid: {exc!r}") from exc
    if not environments:
        raise SeedError(f"Sandbox seed file {path} defines no Dataverse environment")
    return Directory(tenant, users, apps, list(data.get("consent_grants", [])), environments,
                     groups=_load_groups(data))


def _load_groups(data: dict) -> dict[str, Group]:
    """The seed's groups, plus `extra_groups` generated groups for each user that asks for them
    (a user in more groups than a token holds, for the overage case)."""
    groups = {g["id"].lower(): Group(g["id"], g["name"], {m.lower() for m in g.get("members", [])})
              for g in data.get("groups", [])}
    for u in data["users"]:
        for n in range(int(u.get("extra_groups", 0))):
            group_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-group:{u['oid']}:{n}"))
            groups[group_id] = Group(group_id, f"{u['name']} group {n + 1}", {u["upn"].lower()})
    return groups
