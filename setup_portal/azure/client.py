"""Azure AD (Microsoft Entra ID) client: the only module that uses msal.

Every call goes through a fresh msal application whose `http_client` is our own
`requests.Session`: it carries a timeout (msal sets none on a custom session), trusts
the sandbox's CA when the setup uses the sandbox (with `trust_env` off, because a
machine-wide REQUESTS_CA_BUNDLE would otherwise win over `verify`), and remembers the
last response so that 429/5xx answers keep their status and Retry-After. Fresh
application objects also keep msal's in-memory cache of failed token requests from
turning a retry into a replay of the old failure.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.wizard.clouds import authority_url

FLOW_LIFETIME = timedelta(minutes=10)
ALLOWED_ID_TOKEN_ALGS = ["RS256"]
_AADSTS = re.compile(r"AADSTS(\d+)")


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
class TokenResult:
    access_token: str
    expires_at: datetime
    source: str  # "cache" or "identity_provider"

    def __repr__(self) -> str:  # never let the token reach a log line
        return f"TokenResult(expires_at={self.expires_at.isoformat()}, source={self.source!r})"


@dataclass(frozen=True)
class _Config:
    """What a token request needs, read from a Setup or an Instance."""

    cloud: str
    tenant: str
    use_sandbox: bool
    auth_type: str
    client_id: str
    client_secret: str
    username: str
    password: str
    dynamics_url: str


def _config(source) -> _Config:
    return _Config(cloud=source.cloud, tenant=source.tenant, use_sandbox=source.use_sandbox,
                   auth_type=source.auth_type, client_id=source.client_id or "",
                   client_secret=source.client_secret or "", username=source.username or "",
                   password=source.password or "", dynamics_url=source.dynamics_url.rstrip("/"))


# --- transport -------------------------------------------------------------------------

def _sandbox_info() -> dict:
    if not settings.SANDBOX_ENABLED:
        raise AzureError("sandbox_disabled", "The sandbox tenant is not enabled on this portal.")
    from setup_portal.sandbox.info import sandbox_info

    return sandbox_info()


class _Session(requests.Session):
    """A requests session with a timeout on every call that remembers the last response."""

    def __init__(self, *, ca_file: str | None):
        super().__init__()
        self.last_response: requests.Response | None = None
        if ca_file:
            self.trust_env = False
            self.verify = ca_file

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", settings.OUTBOUND_TIMEOUT_SECONDS)
        response = super().request(method, url, **kwargs)
        self.last_response = response
        return response


def http_session(*, use_sandbox: bool) -> _Session:
    """The session for Azure AD and Dataverse calls (also used by the Dataverse client)."""
    return _Session(ca_file=_sandbox_info()["ca_cert_path"] if use_sandbox else None)


def authority_for(*, cloud: str, tenant: str, use_sandbox: bool) -> str:
    if use_sandbox:
        base = _sandbox_info()["backchannel_base"].rstrip("/")
        return f"{base}/{tenant}"
    try:
        return authority_url(cloud, tenant)
    except ValueError:
        raise AzureError("unknown_cloud", f"Unknown cloud {cloud!r}.") from None


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _transport_error(exc: Exception, session: _Session) -> AzureError:
    """Turn what msal/requests raised into an AzureError that says whether a retry may help."""
    if isinstance(exc, requests.Timeout):
        return AzureError("timeout", "Azure AD did not answer in time.", retryable=True)
    if isinstance(exc, requests.ConnectionError):
        return AzureError("connection_error", "Azure AD could not be reached.", retryable=True)
    response = session.last_response
    if response is not None and (response.status_code == 429 or response.status_code >= 500):
        return AzureError(f"http_{response.status_code}", f"Azure AD answered HTTP {response.status_code}.",
                          retryable=True, retry_after=_retry_after(response))
    if response is not None and 400 <= response.status_code < 500:
        # e.g. discovery for an unknown tenant, which msal reports as a bare ValueError
        match = _AADSTS.search(response.text[:2000])
        if match:
            return AzureError(f"AADSTS{match.group(1)}", "Azure AD refused the request.")
        if "openid-configuration" in response.url:
            return AzureError("AADSTS90002", "Azure AD does not know this directory.")
    return AzureError("azure_error", "Azure AD gave an answer the portal could not use.")


def _result_error(result: dict, session: _Session) -> AzureError:
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
                      retry_after=_retry_after(response) if retryable else None)


def _call(session: _Session, fn, *args, **kwargs) -> Any:
    """Run an msal call (application construction included), translating its failures."""
    try:
        return fn(*args, **kwargs)
    except AzureError:
        raise
    except (requests.RequestException, ValueError, RuntimeError, msal.exceptions.MsalError) as exc:
        raise _transport_error(exc, session) from None


def _confidential_app(cfg: _Config, session: _Session, cache: msal.SerializableTokenCache | None = None):
    return _call(session, msal.ConfidentialClientApplication,
                 cfg.client_id, client_credential=cfg.client_secret,
                 authority=authority_for(cloud=cfg.cloud, tenant=cfg.tenant, use_sandbox=cfg.use_sandbox),
                 http_client=session, token_cache=cache,
                 instance_discovery=False if cfg.use_sandbox else None)


def _public_client_id(cfg: _Config) -> str:
    if cfg.client_id:
        return cfg.client_id
    if cfg.use_sandbox:
        return _sandbox_info()["public_client_id"]
    return settings.CUSTOM_AUTH_CLIENT_ID


def _public_app(cfg: _Config, session: _Session, cache: msal.SerializableTokenCache | None = None):
    if cfg.use_sandbox:
        # msal looks up the user's realm (federated or managed) at https://<host>/common/userrealm,
        # dropping the port, which misses the sandbox. Sandbox users are all managed (cloud)
        # accounts, so tell msal what that lookup would have said: no federation here.
        host = urlsplit(authority_for(cloud=cfg.cloud, tenant=cfg.tenant, use_sandbox=True)).hostname
        msal.authority.Authority._domains_without_user_realm_discovery.add(host)
    return _call(session, msal.PublicClientApplication,
                 _public_client_id(cfg),
                 authority=authority_for(cloud=cfg.cloud, tenant=cfg.tenant, use_sandbox=cfg.use_sandbox),
                 http_client=session, token_cache=cache,
                 instance_discovery=False if cfg.use_sandbox else None)


def _delegated_scopes(cfg: _Config) -> list[str]:
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/authenticate-oauth
    return [f"{cfg.dynamics_url}/user_impersonation"]


def _app_scopes(cfg: _Config) -> list[str]:
    return [f"{cfg.dynamics_url}/.default"]


def _expires_at(result: dict) -> datetime:
    return timezone.now() + timedelta(seconds=int(result.get("expires_in") or 0))


def _load_cache(serialized: str) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    if serialized:
        cache.deserialize(str(serialized))
    return cache


# --- id_token verification ---------------------------------------------------------------

class IdTokenInvalid(Exception):
    """The id_token failed one of our checks (the message names which, never the token)."""


def error_from_redirect(query: dict) -> AzureError:
    """The `error` + `error_description` Azure AD puts on a redirect, as an AzureError."""
    description = str(query.get("error_description", ""))
    match = _AADSTS.search(description)
    return AzureError(f"AADSTS{match.group(1)}" if match else str(query.get("error", "azure_error"))[:32],
                      description[:500])


def verify_id_token(id_token: str, *, jwks: dict, issuer: str, audience: str, nonce: str | None,
                    tenant_id: str | None = None, leeway: int = 120) -> dict:
    """Check an id_token ourselves (msal only checks the nonce) and return its claims.

    `issuer` may contain "{tenantid}" (multi-tenant discovery documents do); it is filled
    from the token's tid, and the tid must then match `tenant_id` when one is given.
    Reference: https://learn.microsoft.com/entra/identity-platform/id-tokens#validate-tokens
    """
    try:
        header = json.loads(_b64decode(id_token.split(".")[0]))
    except (ValueError, IndexError):
        raise IdTokenInvalid("not a JWT") from None
    alg = header.get("alg") if isinstance(header, dict) else None
    if alg not in ALLOWED_ID_TOKEN_ALGS:
        raise IdTokenInvalid(f"algorithm {alg!r} is not allowed")
    try:
        key_set = KeySet.import_key_set(jwks)
        token = jwt.decode(id_token, key_set, algorithms=ALLOWED_ID_TOKEN_ALGS)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise IdTokenInvalid(f"signature check failed ({type(exc).__name__})") from None
    claims = token.claims
    tid = claims.get("tid")
    if not tid:
        raise IdTokenInvalid("no tenant (tid) claim")
    if tenant_id and tid != tenant_id:
        raise IdTokenInvalid("issued by another tenant")
    expected_issuer = issuer.replace("{tenantid}", tid)
    registry = jwt.JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": expected_issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise IdTokenInvalid(f"claim check failed ({exc.error}: {exc.description})") from None
    if nonce is not None and claims.get("nonce") != nonce:
        raise IdTokenInvalid("nonce does not match")
    return claims


def _b64decode(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _discovery_and_keys(cfg: _Config, session: _Session) -> tuple[dict, dict]:
    authority = authority_for(cloud=cfg.cloud, tenant=cfg.tenant, use_sandbox=cfg.use_sandbox)
    try:
        # Reference: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
        discovery = session.get(f"{authority}/v2.0/.well-known/openid-configuration")
        discovery.raise_for_status()
        document = discovery.json()
        keys = session.get(document["jwks_uri"])
        keys.raise_for_status()
        return document, keys.json()
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise _transport_error(exc, session) from None


def _verified_claims(cfg: _Config, session: _Session, result: dict, *, nonce: str | None) -> dict:
    id_token = result.get("id_token")
    if not id_token:
        raise AzureError("id_token_invalid", "Azure AD returned no identity token.")
    document, jwks = _discovery_and_keys(cfg, session)
    tenant_id = None
    issuer = document.get("issuer", "")
    if "{tenantid}" not in issuer:
        # A concrete issuer names the tenant: https://<host>/<tid>/v2.0
        tenant_id = issuer.rstrip("/").split("/")[-2]
    try:
        return verify_id_token(id_token, jwks=jwks, issuer=issuer, audience=_public_client_id(cfg),
                               nonce=nonce, tenant_id=tenant_id)
    except IdTokenInvalid as exc:
        raise AzureError("id_token_invalid", str(exc)) from None


def _safe_claims(claims: dict) -> dict:
    return {k: claims[k] for k in ("tid", "oid", "preferred_username", "name") if k in claims}


# --- the authorization-code flow ---------------------------------------------------------------

def start_authorization(*, user, setup=None, instance=None, redirect_uri: str) -> str:
    """Begin the OAuth dance for a setup (stage 7) or an instance (re-authentication).

    The msal flow (PKCE verifier, state, nonce) is kept server-side, encrypted, keyed by
    state and bound to `user`; returns the URL to send the browser to.
    """
    source = setup if setup is not None else instance
    cfg = _config(source)
    session = http_session(use_sandbox=cfg.use_sandbox)
    app = _confidential_app(cfg, session)
    # Reference: https://learn.microsoft.com/entra/msal/python/ (initiate_auth_code_flow)
    # The code comes back in the query string (a GET callback that also works without the
    # session cookie); msal nudges towards form_post, but the code is single-use and bound
    # to our PKCE verifier, so a leaked URL is worth nothing.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        flow = _call(session, app.initiate_auth_code_flow, _delegated_scopes(cfg), redirect_uri=redirect_uri,
                     state=secrets.token_urlsafe(32), response_mode="query")
    AuthFlow.objects.create(
        state=flow["state"], user=user, setup=setup, instance=instance,
        purpose=AuthFlow.Purpose.SETUP if setup is not None else AuthFlow.Purpose.REAUTH,
        flow=json.dumps(flow), expires_at=timezone.now() + FLOW_LIFETIME,
    )
    return flow["auth_uri"]


def claim_flow(*, user, state: str) -> AuthFlow:
    """Consume the pending flow for `state` exactly once, or raise AzureError saying why not.

    The state is the credential here (the session cookie may be missing on the way back);
    a signed-in user other than the one who started the flow is refused.
    """
    now = timezone.now()
    flow = AuthFlow.objects.filter(state=state).first() if state else None
    if flow is None:
        raise AzureError("state_unknown", "No authorization request matches this state.")
    if user.is_authenticated and user.pk != flow.user_id:
        raise AzureError("state_other_user", "The authorization request belongs to another user.")
    if flow.consumed_at is not None:
        raise AzureError("state_replayed", "This authorization answer was already used.")
    if flow.expires_at <= now:
        raise AzureError("state_expired", "The authorization request has expired.")
    claimed = AuthFlow.objects.filter(pk=state, consumed_at__isnull=True).update(consumed_at=now)
    if claimed != 1:
        raise AzureError("state_replayed", "This authorization answer was already used.")
    return flow


def complete_authorization(*, user, query: dict) -> Authorization:
    """Finish the dance from the callback's query parameters; returns the new Authorization.

    Raises AzureError for a refused state, an error answer from Azure AD, a failed code
    redemption or an id_token that does not pass our own checks.
    """
    query = {k: (v[0] if isinstance(v, list) else v) for k, v in query.items()}
    flow_row = claim_flow(user=user, state=str(query.get("state", "")))
    if query.get("error"):
        raise error_from_redirect(query)
    source = flow_row.setup if flow_row.setup_id else flow_row.instance
    cfg = _config(source)
    flow = json.loads(str(flow_row.flow))
    session = http_session(use_sandbox=cfg.use_sandbox)
    cache = msal.SerializableTokenCache()
    app = _confidential_app(cfg, session, cache)
    result = _call(session, app.acquire_token_by_auth_code_flow, flow, query)
    if "error" in result:
        raise _result_error(result, session)
    # msal keeps the raw nonce in the flow and sends its SHA-256 (hex) to Azure AD.
    nonce = hashlib.sha256(flow["nonce"].encode("ascii")).hexdigest() if flow.get("nonce") else None
    claims = _verified_claims(cfg, session, result, nonce=nonce)
    return _save_authorization(app, cache, result, claims, user=flow_row.user, setup=flow_row.setup,
                               instance=flow_row.instance)


def _save_authorization(app, cache, result: dict, claims: dict, *, user, setup, instance) -> Authorization:
    accounts = app.get_accounts() if hasattr(app, "get_accounts") else []
    account = next((a for a in accounts if a.get("local_account_id") == claims.get("oid")),
                   accounts[0] if accounts else None)
    return Authorization.objects.create(
        setup=setup, instance=instance, user=user, token_cache=cache.serialize(),
        home_account_id=(account or {}).get("home_account_id", ""), claims=_safe_claims(claims),
        scopes=str(result.get("scope", ""))[:500], access_token_expires_at=_expires_at(result),
    )


def check_s2s_or_custom(setup, user) -> Authorization:
    """Stage 7 for the auth types without a browser: get a token now and keep its cache.

    `setup` may also be an Instance (re-authentication of a server-to-server or custom one).
    """
    from setup_portal.instances.models import Instance

    instance = setup if isinstance(setup, Instance) else None
    cfg = _config(setup)
    session = http_session(use_sandbox=cfg.use_sandbox)
    cache = msal.SerializableTokenCache()
    if cfg.auth_type == "s2s":
        app = _confidential_app(cfg, session, cache)
        result = _call(session, app.acquire_token_for_client, _app_scopes(cfg))
        if "error" in result:
            raise _result_error(result, session)
        claims: dict = {}
    else:
        app = _public_app(cfg, session, cache)
        result = _password_grant(app, cfg, session)
        if "error" in result:
            raise _result_error(result, session)
        claims = _verified_claims(cfg, session, result, nonce=None)
    return _save_authorization(app, cache, result, claims, user=user, setup=None if instance else setup,
                               instance=instance)


def verify_client_secret(*, cloud: str, tenant: str, use_sandbox: bool, client_id: str, client_secret: str,
                         dynamics_url: str) -> None:
    """Ask Azure AD for an app token with this secret; raises AzureError when it is refused."""
    cfg = _Config(cloud=cloud, tenant=tenant, use_sandbox=use_sandbox, auth_type="s2s", client_id=client_id,
                  client_secret=client_secret, username="", password="", dynamics_url=dynamics_url.rstrip("/"))
    session = http_session(use_sandbox=use_sandbox)
    app = _confidential_app(cfg, session)
    # Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    result = _call(session, app.acquire_token_for_client, _app_scopes(cfg))
    if "error" in result:
        raise _result_error(result, session)


# --- tokens for an existing instance -----------------------------------------------------------------

def acquire_token_for_instance(instance, *, force_refresh: bool = False) -> TokenResult:
    """An access token for the instance's Dynamics URL, from its cache or a new grant.

    The instance row is locked while msal may redeem (and rotate) the refresh token, so a
    refresh in the worker and one in a web request never both spend the same refresh token;
    the cache is written back only when msal changed it.
    """
    from setup_portal.instances.models import Instance

    with transaction.atomic():
        row = Instance.objects.select_for_update().get(pk=instance.pk)
        cfg = _config(row)
        cache = _load_cache(row.token_cache)
        session = http_session(use_sandbox=cfg.use_sandbox)
        if cfg.auth_type == "s2s":
            app = _confidential_app(cfg, session, cache)
            result = _call(session, app.acquire_token_for_client, _app_scopes(cfg))
        else:
            app = (_confidential_app if cfg.auth_type == "oauth2" else _public_app)(cfg, session, cache)
            result = _silent(app, cfg, session, force_refresh=force_refresh)
        if "error" in result:
            raise _result_error(result, session)
        expires_at = _expires_at(result)
        if cache.has_state_changed:
            row.token_cache = cache.serialize()
            row.access_token_expires_at = expires_at
            row.token_refreshed_at = timezone.now()
            row.save(update_fields=["token_cache", "access_token_expires_at", "token_refreshed_at", "updated_at"])
    return TokenResult(access_token=result["access_token"], expires_at=expires_at,
                       source=str(result.get("token_source", "cache")))


def _password_grant(app, cfg: _Config, session: _Session) -> dict:
    # The "custom authentication": msal warns that Microsoft is retiring it, and so
    # does the wizard; the warning would only repeat that in every log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _call(session, app.acquire_token_by_username_password, cfg.username, cfg.password,
                     _delegated_scopes(cfg))


def _silent(app, cfg: _Config, session: _Session, *, force_refresh: bool) -> dict:
    accounts = app.get_accounts()
    if not accounts:
        if cfg.auth_type == "custom" and cfg.username and cfg.password:
            return _password_grant(app, cfg, session)
        raise AzureError("no_account", "The instance holds no signed-in account.")
    result = _call(session, app.acquire_token_silent_with_error, _delegated_scopes(cfg), accounts[0],
                   force_refresh=force_refresh)
    if result is None:
        raise AzureError("invalid_grant", "The saved sign-in can no longer be used.")
    return result
