"""The token endpoint: authorization_code, refresh_token, client_credentials, password.

Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import assertions, tokens
from .. import scopes as scopes_mod
from ..directory import App, User
from ..errors import AadError, json_response
from ..state import RefreshToken
from ..state import Store as _Store
from .common import backchannel_base, current, resolve_tenant


@csrf_exempt
@require_POST
def token(request: HttpRequest, tenant: str) -> HttpResponse:
    correlation_id = request.headers.get("client-request-id", "")
    try:
        app = _authenticate_client(request, tenant)
        grant_type = request.POST.get("grant_type", "")
        handler = GRANTS.get(grant_type)
        if handler is None:
            if not grant_type:
                raise AadError(900144, parameter="grant_type")
            raise AadError(70003, grant_type=grant_type)
        return handler(request, app)
    except AadError as err:
        return json_response(err, correlation_id)


def _client_credentials_from(request: HttpRequest) -> tuple[str, str | None]:
    """client_secret_basic (form-encoded id:secret in the header) or client_secret_post."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AadError(900144, parameter="client_id") from None
        client_id, _, secret = raw.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    return request.POST.get("client_id", ""), request.POST.get("client_secret")


def _authenticate_client(request: HttpRequest, tenant: str) -> App:
    found = resolve_tenant(tenant)
    client_id, secret = _client_credentials_from(request)
    assertion = request.POST.get("client_assertion", "")
    if assertion and not client_id:
        client_id = _assertion_issuer(assertion)
    if not client_id:
        raise AadError(900144, parameter="client_id")
    directory = current().directory
    app = directory.app(client_id)
    if app is None:
        raise AadError(700016, client_id=client_id, tenant=found.domain if found else directory.tenant.domain)
    if found is None and not app.multi_tenant:
        raise AadError(50194, client_id=app.client_id, name=app.name)
    if app.public_client:
        if secret or assertion:
            raise AadError(700025)
        return app
    if assertion or request.POST.get("client_assertion_type"):
        _check_assertion(request, app, tenant)
        return app
    if not secret:
        raise AadError(7000218)
    for candidate in app.secrets:
        if hmac.compare_digest(candidate.value.encode(), secret.encode()):
            if candidate.is_expired():
                raise AadError(7000222, client_id=app.client_id)
            return app
    # Pasting the secret's ID instead of its value lands here too, as in Azure.
    raise AadError(7000215, client_id=app.client_id)


def _assertion_issuer(assertion: str) -> str:
    """The client ID an assertion names (its `iss`), for requests that leave client_id out; unverified."""
    try:
        raw = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError):
        return ""
    return str(claims.get("iss", "")) if isinstance(claims, dict) else ""


def _check_assertion(request: HttpRequest, app: App, tenant: str) -> None:
    if request.POST.get("client_assertion_type") != assertions.ASSERTION_TYPE:
        raise AadError(900144, parameter="client_assertion_type")
    store = current()
    tenant_segment = tenant.lower()

    def tenant_ok(segment: str) -> bool:
        return segment.lower() == tenant_segment or store.directory.tenant.matches(segment)

    assertions.verify(_require(request, "client_assertion"), app=app, base=backchannel_base(), tenant_ok=tenant_ok)


def _azpacr(request: HttpRequest) -> str:
    """How the client proved itself, as Entra's tokens say: "2" certificate (client assertion), "1" secret."""
    return "2" if request.POST.get("client_assertion") else "1"


def _require(request: HttpRequest, name: str) -> str:
    value = request.POST.get(name, "")
    if not value:
        raise AadError(900144, parameter=name)
    return value


def _user_tokens(store: _Store, app: App, user: User, request_scopes: scopes_mod.ScopeRequest,
                 permissions: list[str], nonce: str = "", azpacr: str = "1") -> HttpResponse:
    """Access token (+ id_token with openid, + refresh token with offline_access)."""
    tenant_id = store.directory.tenant.id
    iss = tokens.issuer(backchannel_base(), tenant_id)
    key, kid = store.material.signing_key, store.material.kid
    granted = request_scopes.qualified(permissions)
    body: dict = {
        "token_type": "Bearer",
        "scope": " ".join(granted + [s for s in request_scopes.oidc if s != "offline_access"]),
        "expires_in": tokens.ACCESS_TOKEN_LIFETIME - 1,
        "ext_expires_in": tokens.ACCESS_TOKEN_LIFETIME - 1,
        "access_token": tokens.sign(key, kid, tokens.user_access_claims(
            iss=iss, aud=request_scopes.audience, tenant_id=tenant_id, app=app, user=user, scp=permissions,
            azpacr=azpacr)),
        "client_info": tokens.client_info(user, tenant_id),
    }
    if "openid" in request_scopes.oidc:
        body["id_token"] = tokens.sign(key, kid, tokens.id_token_claims(
            iss=iss, tenant_id=tenant_id, app=app, user=user, nonce=nonce, email="email" in request_scopes.oidc,
            groups=store.directory.groups_of(user) if app.group_membership_claims else None,
            graph_base=f"{backchannel_base()}/graph"))
    if "offline_access" in request_scopes.oidc:
        body["refresh_token"] = store.add_refresh_token(RefreshToken(app.client_id, tenant_id, user.upn,
                                                                     request_scopes.oidc))
        body["refresh_token_expires_in"] = 90 * 24 * 3600
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response


def _authorization_code(request: HttpRequest, app: App) -> HttpResponse:
    store = current()
    value = _require(request, "code")
    code = store.get_code(value)
    if code is None:
        raise AadError(9002313)
    if code.redeemed:
        raise AadError(54005)
    if time.time() - code.created > 600:
        raise AadError(70008)
    if code.client_id.lower() != app.client_id.lower():
        raise AadError(700005)
    redirect_uri = _require(request, "redirect_uri")
    if redirect_uri != code.redirect_uri:
        raise AadError(500112, redirect_uri=redirect_uri)
    if code.code_challenge:
        verifier = request.POST.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not verifier or not hmac.compare_digest(digest, code.code_challenge):
            raise AadError(501481)
    if not store.redeem_code(value):
        raise AadError(54005)
    user = store.directory.user(code.upn)
    env = store.directory.environments.get(code.environment)
    if env:
        audience = env.url(backchannel_base())
    elif code.resource == "discovery":
        audience = scopes_mod.discovery_uri(backchannel_base())
    else:
        audience = scopes_mod.GRAPH_URI
    request_scopes = scopes_mod.ScopeRequest(code.oidc, code.resource, code.environment, code.permissions, audience)
    return _user_tokens(store, app, user, request_scopes, code.permissions, nonce=code.nonce,
                        azpacr=_azpacr(request))


def _delegated(app: App, user: User, scope: str) -> tuple[scopes_mod.ScopeRequest, list[str]]:
    """Scopes for a non-interactive user grant: the app must list them and someone must have consented."""
    store = current()
    request_scopes = scopes_mod.parse(scope, store.directory, backchannel_base())
    permissions = scopes_mod.delegated_permissions(request_scopes, app)
    if permissions and not store.consented(app.client_id, user.upn, request_scopes.resource, permissions):
        raise AadError(65001, suberror="consent_required", client_id=app.client_id, name=app.name)
    return request_scopes, permissions


def _refresh_token(request: HttpRequest, app: App) -> HttpResponse:
    store = current()
    refresh = store.get_refresh_token(_require(request, "refresh_token"))
    if refresh is None:
        raise AadError(9002313)
    if refresh.client_id.lower() != app.client_id.lower():
        raise AadError(700005)
    if refresh.expires < time.time():
        issued = datetime.fromtimestamp(refresh.issued, UTC).strftime("%m/%d/%Y %H:%M:%S")
        raise AadError(700082, issued=issued)
    user = store.directory.user(refresh.upn)
    scope = request.POST.get("scope", "")
    request_scopes, permissions = _delegated(app, user, scope)
    # The new refresh token keeps the OpenID scopes of the original grant.
    request_scopes.oidc = sorted(set(request_scopes.oidc) | set(refresh.oidc))
    return _user_tokens(store, app, user, request_scopes, permissions, azpacr=_azpacr(request))


def _client_credentials(request: HttpRequest, app: App) -> HttpResponse:
    store = current()
    scope = _require(request, "scope")
    request_scopes = scopes_mod.parse(scope, store.directory, backchannel_base())
    if request_scopes.permissions != [".default"] or request_scopes.oidc:
        raise AadError(1002012, scope=scope)
    if app.public_client:
        raise AadError(7000218)
    tenant_id = store.directory.tenant.id
    claims = tokens.app_access_claims(iss=tokens.issuer(backchannel_base(), tenant_id),
                                      aud=request_scopes.audience, tenant_id=tenant_id, app=app,
                                      azpacr=_azpacr(request))
    response = JsonResponse({"token_type": "Bearer", "expires_in": tokens.ACCESS_TOKEN_LIFETIME - 1,
                             "ext_expires_in": tokens.ACCESS_TOKEN_LIFETIME - 1,
                             "access_token": tokens.sign(store.material.signing_key, store.material.kid, claims)})
    response["Cache-Control"] = "no-store"
    return response


def _password(request: HttpRequest, app: App) -> HttpResponse:
    """The legacy "custom authentication" path (ROPC): no browser, so no MFA and no consent prompt."""
    store = current()
    username = _require(request, "username")
    password = _require(request, "password")
    scope = _require(request, "scope")
    user = store.directory.user(username)
    if user is None:
        raise AadError(50034, username=username, tenant=store.directory.tenant.domain)
    if not hmac.compare_digest(user.password.encode(), password.encode()):
        raise AadError(50126)
    if user.mfa_required:
        resource = scopes_mod.parse(scope, store.directory, backchannel_base()).resource_uri
        raise AadError(50076, suberror="basic_action", resource=resource)
    request_scopes, permissions = _delegated(app, user, scope)
    return _user_tokens(store, app, user, request_scopes, permissions, azpacr=_azpacr(request))


GRANTS = {
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
    "client_credentials": _client_credentials,
    "password": _password,
}
