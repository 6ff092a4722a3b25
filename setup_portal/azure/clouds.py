"""Where and how the portal signs in to Azure AD: national clouds, directories (tenants)
and authentication types.

Model-free (settings import it too); the wizard, the instances and the Azure client all
take their choices from here.
Reference: https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

from django.db import models

from setup_portal.text import GUID


class Cloud(models.TextChoices):
    PUBLIC = "public", "Public (worldwide)"
    USGOV = "usgov", "US Government (GCC High)"
    CHINA = "china", "China (operated by 21Vianet)"


class AuthType(models.TextChoices):
    OAUTH2 = "oauth2", "OAuth 2.0 (authorization code)"
    S2S = "s2s", "Server-to-server (client credentials)"
    CUSTOM = "custom", "Custom (user name and password)"


AUTHORITY_HOSTS = {
    Cloud.PUBLIC: "login.microsoftonline.com",
    Cloud.USGOV: "login.microsoftonline.us",
    Cloud.CHINA: "login.partner.microsoftonline.cn",
}

# Multi-tenant aliases: the portal needs one specific directory (AADSTS50194 otherwise).
_ALIASES = {"common", "organizations", "consumers"}
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class InvalidTenant(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def authority_host(cloud: str) -> str:
    """The Microsoft sign-in host for a cloud ("public", "usgov", "china")."""
    try:
        return AUTHORITY_HOSTS[cloud]
    except KeyError:
        raise ValueError(f"Unknown cloud {cloud!r}") from None


def normalize_tenant(raw: str) -> str:
    """A directory (tenant) GUID or verified domain, lower-cased; raises InvalidTenant."""
    text = (raw or "").strip().lower()
    if not text:
        raise InvalidTenant("Enter your directory (tenant) ID or a verified domain such as contoso.onmicrosoft.com.")
    if len(text) > 253:
        raise InvalidTenant("That is too long to be a tenant ID or domain.")
    if not text.isascii():
        raise InvalidTenant("Use plain letters, digits, dots and hyphens; the tenant contains look-alike characters.")
    if text in _ALIASES:
        raise InvalidTenant(f"“{text}” is not one directory. Enter your own tenant ID (a GUID) or verified domain; "
                            "Azure refuses single-tenant apps on /common (AADSTS50194).")
    if GUID.match(text):
        return str(uuid.UUID(text))
    if re.match(r"^[0-9a-f-]{30,40}$", text):
        raise InvalidTenant("That looks like a tenant ID but is not a complete GUID "
                            "(8-4-4-4-12 hexadecimal digits). Copy it again from the Overview page.")
    if text.startswith(("http://", "https://")) or "/" in text:
        raise InvalidTenant("Enter only the tenant ID or domain, not a URL.")
    if any(label.startswith("xn--") for label in text.split(".")) or not _DOMAIN.match(text):
        raise InvalidTenant("Enter a tenant ID (a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47) or a "
                            "verified domain (like contoso.onmicrosoft.com).")
    return text


def admin_consent_url(*, base: str, tenant: str, client_id: str, dynamics_url: str, redirect_uri: str,
                      state: str | None = None) -> str:
    """The link an Azure admin opens to grant consent for the whole directory.

    `base` is https://<authority host> (or the sandbox's browser base). Without a state the
    answer records nothing in the portal (a link sent to another administrator).
    Reference: https://learn.microsoft.com/entra/identity-platform/v2-admin-consent
    """
    params = {"client_id": client_id, "scope": f"{dynamics_url}/user_impersonation", "redirect_uri": redirect_uri}
    if state:
        params["state"] = state
    query = urlencode(params)
    return f"{base.rstrip('/')}/{tenant}/v2.0/adminconsent?{query}"
