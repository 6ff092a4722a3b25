"""Azure AD (Microsoft Entra ID) client: the only module that calls msal.

Model-free: plain credentials and a serialized token cache in, a TokenResult (with the new
serialized cache) out, or an AzureError that says whether a retry may help. The caller
saves what it gets (azure.flows, azure.discovery, instances.tokens).

Every call builds a fresh msal application whose `http_client` is an outbound session
(see setup_portal.outbound). Fresh application objects also keep msal's in-memory cache of
failed token requests from turning a retry into a replay of the old failure.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from django.conf import settings
from django.utils import timezone

from setup_portal.outbound import OutboundSession, SandboxDisabled, outbound_session, retry_after_seconds
from setup_portal.sandbox.info import bases as sandbox_bases
from setup_portal.sandbox.info import sandbox_info
from setup_portal.text import GUID, storable

from .clouds import AuthType, admin_consent_url, authority_host
from .id_token import IdTokenInvalid, tenant_id_from_issuer, verify_id_token

_AADSTS = re.compile(r"AADSTS(\d+)")
# Claims of a verified id_token worth keeping: who signed in, in which directory. Nothing secret.
KEPT_CLAIMS = ("tid", "oid", "preferred_username", "name")


class AzureError(Exception):
    """Azure AD said no, or could not be reached. `code`: "AADSTS7000215", "invalid_grant", "http_503"..."""

    def __init__(self, code: str, description: str = "", *, retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Credentials:
    """What a token request needs; `Credentials.of(setup or instance)` reads them off a row."""

    cloud: str
    tenant: str
    use_sandbox: bool
    auth_type: str
    dynamics_url: str
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    # A certificate credential instead of the secret: the public certificate (PEM) and its private key.
    certificate_pem: str = ""
    certificate_key: str = field(default="", repr=False)

    @classmethod
    def of(cls, source: Any) -> Credentials:
        certificate = getattr(source, "credential_kind", "secret") == "certificate"
        return cls(cloud=source.cloud, tenant=source.tenant, use_sandbox=source.use_sandbox,
                   auth_type=source.auth_type, dynamics_url=source.dynamics_url.rstrip("/"),
                   client_id=source.client_id or "",
                   client_secret="" if certificate else str(source.client_secret or ""),
                   username=source.username or "", password=str(source.password or ""),
                   certificate_pem=source.certificate_pem if certificate else "",
                   certificate_key=str(source.certificate_key or "") if certificate else "")

    def client_credential(self) -> str | dict:
        """What msal's `client_credential` takes: the secret, or the certificate to sign assertions with.

        Given the public certificate and no SHA-1 thumbprint, msal signs with PS256 and names the
        certificate by its SHA-256 thumbprint (`x5t#S256`), which Entra ID accepts.
        """
        if self.certificate_key:
            # Reference: https://learn.microsoft.com/python/api/msal/msal.application.confidentialclientapplication
            return {"private_key": self.certificate_key, "public_certificate": self.certificate_pem}
        return self.client_secret


@dataclass(frozen=True)
class TokenResult:
    """An access token, and the msal cache as it stands after getting it (save it when `cache_changed`)."""

    access_token: str
    expires_at: datetime
    source: str  # "cache" or "identity_provider"
    cache: str = ""
    cache_changed: bool = False
    scopes: str = ""
    home_account_id: str = ""
    claims: dict = field(default_factory=dict)  # KEPT_CLAIMS of the verified id_token (user sign-ins only)

    def __repr__(self) -> str:  # never let the token or the cache reach a log line
        return f"TokenResult(expires_at={self.expires_at.isoformat()}, source={self.source!r})"


# --- authorities and transport -----------------------------------------------------------------

def _sandbox_bases() -> tuple[str, str]:
    """(browser base, back-channel base) of the sandbox tenant."""
    if not settings.SANDBOX_ENABLED:
        raise AzureError("sandbox_disabled", "The sandbox tenant is not enabled on this portal.")
    return sandbox_bases()


def _sign_in_base(cloud: str) -> str:
    try:
        return f"https://{authority_host(cloud)}"
    except ValueError:
        raise AzureError("unknown_cloud", f"Unknown cloud {cloud!r}.") from None


def authority_for(*, cloud: str, tenant: str, use_sandbox: bool) -> str:
    base = _sandbox_bases()[1] if use_sandbox else _sign_in_base(cloud)
    return f"{base}/{tenant}"


def admin_consent_link(*, cloud: str, tenant: str, use_sandbox: bool, client_id: str, dynamics_url: str,
                       redirect_uri: str, state: str | None = None) -> str:
    """Where an Azure admin grants the app's permissions for the whole directory."""
    base = _sandbox_bases()[0] if use_sandbox else _sign_in_base(cloud)
    return admin_consent_url(base=base, tenant=tenant, client_id=client_id, dynamics_url=dynamics_url.rstrip("/"),
                             redirect_uri=redirect_uri, state=state)


def _authority(creds: Credentials) -> str:
    return authority_for(cloud=creds.cloud, tenant=creds.tenant, use_sandbox=creds.use_sandbox)


def _session(creds: Credentials) -> OutboundSession:
    try:
        return outbound_session(use_sandbox=creds.use_sandbox)
    except SandboxDisabled as exc:
        raise AzureError("sandbox_disabled", str(exc)) from None


def _transport_error(exc: Exception, session: OutboundSession) -> AzureError:
    """Turn what msal/requests raised into an AzureError that says whether a retry may help."""
    if isinstance(exc, requests.Timeout):
        return AzureError("timeout", "Azure AD did not answer in time.", retryable=True)
    if isinstance(exc, requests.ConnectionError):
        return AzureError("connection_error", "Azure AD could not be reached.", retryable=True)
    response = session.last_response
    if response is not None and (response.status_code == 429 or response.status_code >= 500):
        return AzureError(f"http_{response.status_code}", f"Azure AD answered HTTP {response.status_code}.",
                          retryable=True, retry_after=retry_after_seconds(response))
    if response is not None and 400 <= response.status_code < 500:
        # e.g. discovery for an unknown tenant, which msal reports as a bare ValueError
        match = _AADSTS.search(response.text[:2000])
        if match:
            return AzureError(f"AADSTS{match.group(1)}", "Azure AD refused the request.")
        if "openid-configuration" in response.url:
            return AzureError("AADSTS90002", "Azure AD does not know this directory.")
    return AzureError("azure_error", "Azure AD gave an answer the portal could not use.")


def _result_error(result: dict, session: OutboundSession) -> AzureError:
    codes = result.get("error_codes") or []
    description = str(result.get("error_description") or "")
    match = _AADSTS.search(description)
    if codes:
        code = f"AADSTS{codes[0]}"
    elif match:
        code = f"AADSTS{match.group(1)}"
    else:
        code = str(result.get("error") or "azure_error")
    response = session.last_response
    status = response.status_code if response is not None else 0
    retryable = status == 429 or status >= 500 or result.get("error") == "temporarily_unavailable"
    if status == 429 and not codes:
        code = "http_429"
    return AzureError(code, description.split("\r\n")[0][:500], retryable=retryable,
                      retry_after=retry_after_seconds(response) if retryable else None)


def _call(session: OutboundSession, fn, *args, **kwargs) -> Any:
    """Run an msal call (application construction included), translating its failures."""
    try:
        return fn(*args, **kwargs)
    except AzureError:
        raise
    except (requests.RequestException, ValueError, RuntimeError, msal.exceptions.MsalError) as exc:
        raise _transport_error(exc, session) from None


def error_from_redirect(answer: dict) -> AzureError:
    """The `error` + `error_description` Azure AD sends back to the redirect URI, as an AzureError."""
    # Anyone can post an answer: its text is recorded, so it must be text every database keeps.
    description = storable(str(answer.get("error_description", "")))
    match = _AADSTS.search(description)
    return AzureError(f"AADSTS{match.group(1)}" if match else storable(str(answer.get("error", "azure_error")))[:32],
                      description[:500])


# --- msal applications ---------------------------------------------------------------------------

def _confidential_app(creds: Credentials, session: OutboundSession, cache: msal.SerializableTokenCache | None = None):
    # Reference: https://learn.microsoft.com/python/api/msal/msal.application.confidentialclientapplication
    return _call(session, msal.ConfidentialClientApplication,
                 creds.client_id, client_credential=creds.client_credential(), authority=_authority(creds),
                 http_client=session, token_cache=cache, instance_discovery=False if creds.use_sandbox else None)


def _public_client_id(creds: Credentials) -> str:
    if creds.client_id:
        return creds.client_id
    if creds.use_sandbox:
        return sandbox_info()["public_client_id"]
    return settings.CUSTOM_AUTH_CLIENT_ID


def _public_app(creds: Credentials, session: OutboundSession, cache: msal.SerializableTokenCache | None = None):
    if creds.use_sandbox:
        # msal looks up the user's realm (federated or managed) at https://<host>/common/userrealm,
        # dropping the port, which misses the sandbox. Sandbox users are all managed (cloud)
        # accounts, so tell msal what that lookup would have said: no federation here.
        msal.authority.Authority._domains_without_user_realm_discovery.add(urlsplit(_authority(creds)).hostname)
    # Reference: https://learn.microsoft.com/python/api/msal/msal.application.publicclientapplication
    return _call(session, msal.PublicClientApplication,
                 _public_client_id(creds), authority=_authority(creds), http_client=session, token_cache=cache,
                 instance_discovery=False if creds.use_sandbox else None)


def _delegated_scopes(creds: Credentials) -> list[str]:
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/authenticate-oauth
    return [f"{creds.dynamics_url}/user_impersonation"]


def _app_scopes(creds: Credentials) -> list[str]:
    return [f"{creds.dynamics_url}/.default"]


def _load_cache(serialized: str) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    if serialized:
        cache.deserialize(str(serialized))
    return cache


def _token_result(app, cache: msal.SerializableTokenCache, result: dict, claims: dict | None = None) -> TokenResult:
    claims = claims or {}
    accounts = app.get_accounts() if claims else []
    account = next((a for a in accounts if a.get("local_account_id") == claims.get("oid")),
                   accounts[0] if accounts else {})
    changed = cache.has_state_changed  # read before serialize(), which resets it
    return TokenResult(
        access_token=result["access_token"],
        expires_at=timezone.now() + timedelta(seconds=int(result.get("expires_in") or 0)),
        source=str(result.get("token_source", "cache")), cache=cache.serialize(), cache_changed=changed,
        scopes=str(result.get("scope", ""))[:500], home_account_id=account.get("home_account_id", ""),
        claims={k: claims[k] for k in KEPT_CLAIMS if k in claims},
    )


# --- id_token verification -------------------------------------------------------------------------

def _discovery_and_keys(creds: Credentials, session: OutboundSession) -> tuple[dict, dict]:
    try:
        # Reference: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
        discovery = session.get(f"{_authority(creds)}/v2.0/.well-known/openid-configuration")
        discovery.raise_for_status()
        document = discovery.json()
        keys = session.get(document["jwks_uri"])
        keys.raise_for_status()
        return document, keys.json()
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise _transport_error(exc, session) from None


def verified_claims(creds: Credentials, id_token: str, *, nonce: str | None,
                    session: OutboundSession | None = None) -> dict:
    """The id_token's claims once it passes our checks against the setup's directory.

    The directory is pinned to a GUID: the setup's tenant when it is one, else the GUID the
    directory's own discovery document names in its issuer (a domain such as
    contoso.onmicrosoft.com resolves that way). A multi-tenant issuer (`{tenantid}`) names
    no directory, and is refused rather than trusted for any tenant.
    """
    session = session or _session(creds)
    document, jwks = _discovery_and_keys(creds, session)
    issuer = str(document.get("issuer", ""))
    tenant_id = creds.tenant.lower() if GUID.match(creds.tenant) else tenant_id_from_issuer(issuer)
    if not tenant_id:
        raise AzureError("id_token_invalid", "The setup's directory does not resolve to one tenant ID.")
    try:
        return verify_id_token(id_token, jwks=jwks, issuer=issuer, audience=_public_client_id(creds),
                               nonce=nonce, tenant_id=tenant_id)
    except IdTokenInvalid as exc:
        raise AzureError("id_token_invalid", str(exc)) from None


def _id_token_claims(creds: Credentials, session: OutboundSession, result: dict, *, nonce: str | None) -> dict:
    id_token = result.get("id_token")
    if not id_token:
        raise AzureError("id_token_invalid", "Azure AD returned no identity token.")
    return verified_claims(creds, id_token, nonce=nonce, session=session)


# --- grants ----------------------------------------------------------------------------------------

def start_auth_code_flow(creds: Credentials, *, redirect_uri: str, public: bool = False) -> dict:
    """Begin the authorization-code flow: msal's flow dict (state, nonce, PKCE verifier, `auth_uri`).

    The answer is posted back (response_mode=form_post, as RFC 9700 recommends), so the
    code never sits in a URL, a browser history or an access log. Keep the flow secret.
    `public`: sign in with the public client (no secret; PKCE alone), as environment discovery does.
    """
    session = _session(creds)
    app = _public_app(creds, session) if public else _confidential_app(creds, session)
    # Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
    return _call(session, app.initiate_auth_code_flow, _delegated_scopes(creds), redirect_uri=redirect_uri,
                 state=secrets.token_urlsafe(32), response_mode="form_post")


def redeem_auth_code(creds: Credentials, *, flow: dict, answer: dict, public: bool = False) -> TokenResult:
    """Redeem the code in Azure AD's `answer` (checked against `flow`) and verify the id_token."""
    session = _session(creds)
    cache = msal.SerializableTokenCache()
    app = (_public_app if public else _confidential_app)(creds, session, cache)
    # Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token
    result = _call(session, app.acquire_token_by_auth_code_flow, flow, answer)
    if "error" in result:
        raise _result_error(result, session)
    # msal keeps the raw nonce in the flow and sends its SHA-256 (hex) to Azure AD.
    nonce = hashlib.sha256(flow["nonce"].encode("ascii")).hexdigest() if flow.get("nonce") else None
    return _token_result(app, cache, result, _id_token_claims(creds, session, result, nonce=nonce))


def acquire_token_for_client(creds: Credentials, *, cache: str = "") -> TokenResult:
    """An app-only token for the Dynamics URL (server-to-server), with this client ID and secret."""
    session = _session(creds)
    token_cache = _load_cache(cache)
    app = _confidential_app(creds, session, token_cache)
    # Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    result = _call(session, app.acquire_token_for_client, _app_scopes(creds))
    if "error" in result:
        raise _result_error(result, session)
    return _token_result(app, token_cache, result)


def acquire_token_by_password(creds: Credentials, *, cache: str = "") -> TokenResult:
    """A delegated token for the user name and password ("custom authentication"); verifies the id_token."""
    session = _session(creds)
    token_cache = _load_cache(cache)
    app = _public_app(creds, session, token_cache)
    result = _password_grant(app, creds, session)
    if "error" in result:
        raise _result_error(result, session)
    return _token_result(app, token_cache, result, _id_token_claims(creds, session, result, nonce=None))


def acquire_token(creds: Credentials, *, cache: str, force_refresh: bool = False) -> TokenResult:
    """An access token for a saved sign-in: from `cache`, by refreshing it, or by a new app grant."""
    if creds.auth_type == AuthType.S2S:
        # msal's client-credentials call answers from its cache when it can: a forced refresh starts empty.
        return acquire_token_for_client(creds, cache="" if force_refresh else cache)
    session = _session(creds)
    token_cache = _load_cache(cache)
    app = (_confidential_app if creds.auth_type == AuthType.OAUTH2 else _public_app)(creds, session, token_cache)
    result = _silent(app, creds, session, force_refresh=force_refresh)
    if "error" in result:
        raise _result_error(result, session)
    return _token_result(app, token_cache, result)


def verify_client_secret(*, cloud: str, tenant: str, use_sandbox: bool, client_id: str, client_secret: str = "",
                         dynamics_url: str, certificate_pem: str = "", certificate_key: str = "") -> None:
    """Ask Azure AD for an app token with this secret (or certificate); raises AzureError when it is refused."""
    acquire_token_for_client(Credentials(cloud=cloud, tenant=tenant, use_sandbox=use_sandbox,
                                         auth_type=AuthType.S2S, dynamics_url=dynamics_url.rstrip("/"),
                                         client_id=client_id, client_secret=client_secret,
                                         certificate_pem=certificate_pem, certificate_key=certificate_key))


def _password_grant(app, creds: Credentials, session: OutboundSession) -> dict:
    # Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth-ropc
    # Microsoft is retiring this grant, msal warns so, and so does the wizard; the warning
    # would only repeat that in every log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _call(session, app.acquire_token_by_username_password, creds.username, creds.password,
                     _delegated_scopes(creds))


def _silent(app, creds: Credentials, session: OutboundSession, *, force_refresh: bool) -> dict:
    accounts = app.get_accounts()
    if not accounts:
        if creds.auth_type == AuthType.CUSTOM and creds.username and creds.password:
            return _password_grant(app, creds, session)
        raise AzureError("no_account", "The instance holds no signed-in account.")
    # Reference: https://learn.microsoft.com/entra/msal/python/getting-started/acquiring-tokens
    result = _call(session, app.acquire_token_silent_with_error, _delegated_scopes(creds), accounts[0],
                   force_refresh=force_refresh)
    if result is None:
        raise AzureError("invalid_grant", "The saved sign-in can no longer be used.")
    return result


def register_sandbox_certificate(*, client_id: str, certificate_pem: str) -> None:
    """Upload a public certificate to one of the sandbox tenant's apps, as an admin does under
    "Certificates & secrets" in Entra; raises AzureError when the sandbox is off or refuses it."""
    try:
        session = outbound_session(use_sandbox=True)
    except SandboxDisabled as exc:
        raise AzureError("sandbox_disabled", str(exc)) from None
    try:
        response = session.post(f"{_sandbox_bases()[1]}/_sandbox/apps/{client_id}/certificates",
                                json={"certificate": certificate_pem, "description": "Dynamics CRM Setup Portal"})
    except requests.RequestException as exc:
        raise _transport_error(exc, session) from None
    if response.status_code != 201:
        raise AzureError(f"http_{response.status_code}", "The sandbox tenant refused the certificate.")
