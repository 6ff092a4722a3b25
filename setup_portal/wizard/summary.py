"""What a setup holds, per stage, as label/value rows for the review page and read-only views.

Secrets appear only as their masked hint.
"""

from __future__ import annotations

from setup_portal.azure.clouds import AuthType, Cloud, authority_host

from .models import Setup

PREREQUISITES = {
    "dynamics_account": "Dynamics account",
    "consent_admin": "Someone who can grant admin consent",
    "register_app": "Can register an app",
}


def setup_summary(setup: Setup, *, hints: bool = True) -> dict[str, list[tuple[str, str]]]:
    """`hints`: show the secret's masked hint (admins), or only whether one is saved (team leads)."""
    ticked = [label for key, label in PREREQUISITES.items() if (setup.prerequisites or {}).get(key)]
    custom = setup.auth_type == AuthType.CUSTOM
    sign_in = "the sandbox tenant" if setup.use_sandbox else authority_host(setup.cloud)
    certificate = not custom and setup.credential_kind == "certificate"
    keys = [("User name", setup.username or "—"),
            ("Password", "saved" if setup.password_hint else "—")] if custom else [
        ("OAuth Client ID in Azure AD", setup.client_id or "—"),
        ("Certificate thumbprint", setup.certificate_thumbprint or "—"),
        ("Certificate expires on", setup.secret_expires_on.isoformat() if setup.secret_expires_on else "—"),
    ] if certificate else [
        ("OAuth Client ID in Azure AD", setup.client_id or "—"),
        ("OAuth Client Secret in Azure AD", (setup.secret_hint if hints else "")
         or ("saved" if setup.client_secret or setup.secret_hint else "—")),
        ("Secret expires on", setup.secret_expires_on.isoformat() if setup.secret_expires_on else "—"),
    ]
    return {
        "account": [("Team", setup.team.name), ("Checklist", ", ".join(ticked) if ticked else "not ticked yet")],
        "environment": [
            ("Dynamics CRM URL", setup.dynamics_url or "—"),
            ("Region", setup.region or "—"),
            ("Cloud", Cloud(setup.cloud).label if setup.cloud in Cloud.values else setup.cloud),
            ("Directory (tenant)", setup.tenant or "—"),
            ("Sign-in at", sign_in),
        ],
        "application": [
            ("Authentication type", AuthType(setup.auth_type).label),
            ("Supported account types", "Multitenant" if setup.multi_tenant else "Single tenant"),
        ],
        "keys": keys,
        "permissions": [("Confirmed", "yes" if setup.permissions_confirmed else "not yet")],
    }
