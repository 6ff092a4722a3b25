"""Azure AD's browser-facing endpoints and metadata: discovery, keys, authorize (sign-in
and consent pages), admin consent, logout.

Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .. import scopes as scopes_mod
from .. import tokens
from ..directory import OIDC_SCOPE_TEXT, PERMISSION_TEXT, RESOURCES, App
from ..errors import AadError
from ..state import Code, Flow
from .common import (
    LOOPBACK_HOSTS,
    back_to_app,
    backchannel_base,
    browser_base,
    current,
    error_back_to_app,
    error_page,
    page,
    redirect_uri_allowed,
    resolve_tenant,
)


@require_GET
def openid_configuration(request: HttpRequest, tenant: str) -> HttpResponse:
    try:
        found = resolve_tenant(tenant)
    except AadError as err:
        return JsonResponse({"error": "invalid_tenant", "error_description": err.description,
                             "error_codes": [err.code]}, status=400)
    segment = found.id if found else tenant.lower()
    back, browser = backchannel_base(), browser_base()
    # The authorization and logout endpoints are on the plain-HTTP browser listener so a
    # person clicking through the demo never meets a certificate warning.
    return JsonResponse({
        "token_endpoint": f"{back}/{segment}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{back}/{segment}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": tokens.issuer(back, found.id if found else "{tenantid}"),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{back}/oidc/userinfo",
        "authorization_endpoint": f"{browser}/{segment}/oauth2/v2.0/authorize",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{browser}/{segment}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "tenant_region_scope": found.region if found else None,
        "cloud_instance_name": "sandbox.local",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })


@require_GET
def keys(request: HttpRequest, tenant: str) -> HttpResponse:
    store = current()
    iss = tokens.issuer(backchannel_base(), store.directory.tenant.id)
    return JsonResponse(tokens.jwks(store.material.signing_key, store.material.kid, iss))


@require_GET
def user_realm(request: HttpRequest, username: str) -> HttpResponse:
    """msal asks this before the password grant; every sandbox account is cloud-only ("Managed")."""
    tenant = current().directory.tenant
    domain = username.rpartition("@")[2].lower()
    known = domain == tenant.domain.lower()
    return JsonResponse({"ver": "1.0", "account_type": "Managed" if known else "Unknown",
                         "domain_name": domain, "cloud_instance_name": "sandbox.local",
                         "cloud_audience_urn": "urn:federation:MicrosoftOnline"})


def _check_client(tenant: str, params) -> tuple[App, str]:
    """Errors that must not redirect (unknown tenant or app, untrusted redirect URI)."""
    resolve_tenant(tenant)
    client_id = params.get("client_id", "")
    if not client_id:
        raise AadError(900144, parameter="client_id")
    app = current().directory.app(client_id)
    if app is None:
        raise AadError(700016, client_id=client_id, tenant=current().directory.tenant.domain)
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise AadError(900144, parameter="redirect_uri")
    if not redirect_uri_allowed(app, redirect_uri):
        raise AadError(50011, redirect_uri=redirect_uri, client_id=app.client_id)
    return app, redirect_uri


@require_GET
def authorize(request: HttpRequest, tenant: str) -> HttpResponse:
    params = request.GET
    try:
        app, redirect_uri = _check_client(tenant, params)
    except AadError as err:
        return error_page(err)
    state, mode = params.get("state", ""), params.get("response_mode", "query")
    try:
        if tenant.lower() in {"common", "organizations"} and not app.multi_tenant:
            raise AadError(50194, client_id=app.client_id, name=app.name)
        if params.get("response_type", "") != "code":
            raise AadError(700051, response_type=params.get("response_type", ""))
        method = params.get("code_challenge_method", "S256" if params.get("code_challenge") else "")
        if method and method != "S256":
            raise AadError(501491, method=method)
        request_scopes = scopes_mod.parse(params.get("scope", ""), current().directory, backchannel_base())
        permissions = scopes_mod.delegated_permissions(request_scopes, app)
        if params.get("prompt") == "none":
            raise AadError(50058)
    except AadError as err:
        return error_back_to_app(redirect_uri, err, state, mode)
    flow = Flow(params={k: params.get(k, "") for k in ("state", "nonce", "code_challenge", "prompt",
                                                        "response_mode", "login_hint")},
                tenant_segment=tenant, client_id=app.client_id, redirect_uri=redirect_uri,
                resource=request_scopes.resource, environment=request_scopes.environment,
                permissions=permissions, oidc=request_scopes.oidc)
    flow_id = current().add_flow(flow)
    return _sign_in_page(flow_id, flow, app)


@require_GET
def admin_consent(request: HttpRequest, tenant: str) -> HttpResponse:
    """/{tenant}/v2.0/adminconsent: an administrator grants the app's permissions for everyone."""
    params = request.GET
    try:
        app, redirect_uri = _check_client(tenant, params)
    except AadError as err:
        return error_page(err)
    flow = Flow(params={"state": params.get("state", ""), "scope": params.get("scope", ""), "prompt": "consent",
                        "response_mode": "query", "login_hint": params.get("login_hint", "")},
                tenant_segment=tenant, client_id=app.client_id, redirect_uri=redirect_uri, resource="",
                environment="", permissions=[], oidc=[], kind="adminconsent")
    flow_id = current().add_flow(flow)
    return _sign_in_page(flow_id, flow, app)


def _sign_in_page(flow_id: str, flow: Flow, app: App, error: str = "", username: str = "") -> HttpResponse:
    directory = current().directory
    # A hint Microsoft's page never shows: the sandbox's users are test fixtures, not secrets, and
    # `make run` prints no other place a new user would find them (sandbox_info is for scripts).
    hint = next((u for u in directory.users.values() if u.is_admin and not u.mfa_required), None)
    return page("signin.html", {
        "flow_id": flow_id, "app": app, "tenant": directory.tenant, "error": error, "hint": hint,
        "username": username or flow.params.get("login_hint", ""),
        "action": f"/{flow.tenant_segment}/login",
    })


def _flow_or_error(request: HttpRequest) -> tuple[str, Flow | None]:
    flow_id = request.POST.get("flow", "")
    return flow_id, current().get_flow(flow_id)


def _expired_page() -> HttpResponse:
    return page("error.html", {"title": "Your sign-in session has expired.", "code": "",
                               "description": "Go back to the application and start signing in again."}, status=400)


@csrf_exempt
@require_POST
def sign_in(request: HttpRequest, tenant: str) -> HttpResponse:
    flow_id, flow = _flow_or_error(request)
    if flow is None:
        return _expired_page()
    store = current()
    app = store.directory.app(flow.client_id)
    username = request.POST.get("username", "").strip()
    user = store.directory.user(username)
    if user is None:
        return _sign_in_page(flow_id, flow, app, username=username,
                             error="This username may be incorrect. Make sure you typed it correctly. "
                                   "Otherwise, contact your admin. (AADSTS50034)")
    if request.POST.get("password", "") != user.password:
        return _sign_in_page(flow_id, flow, app, username=username,
                             error="Your account or password is incorrect. (AADSTS50126)")
    flow.upn = user.upn
    if flow.kind == "adminconsent":
        if not user.is_admin:
            return _admin_approval_page(flow_id, flow, app)
        return _consent_page(flow_id, flow, app, user.is_admin)
    needs_consent = flow.permissions and (
        flow.params.get("prompt") == "consent"
        or not store.consented(app.client_id, user.upn, flow.resource, flow.permissions))
    if not needs_consent:
        return _issue_code(flow_id, flow)
    if user.is_admin or store.directory.tenant.users_can_consent:
        return _consent_page(flow_id, flow, app, user.is_admin)
    return _admin_approval_page(flow_id, flow, app)


def _permission_lines(flow: Flow, app: App) -> list[dict]:
    if flow.kind == "adminconsent":
        wanted = [(resource, p) for resource, perms in app.permissions.items() for p in perms]
    else:
        wanted = [(flow.resource, p) for p in flow.permissions]
    lines = [{"text": PERMISSION_TEXT.get((r, p), p), "scope": p, "resource": RESOURCES[r]["name"]}
             for r, p in wanted]
    lines += [{"text": OIDC_SCOPE_TEXT[s], "scope": s, "resource": "OpenID Connect"} for s in flow.oidc
              if s != "openid"]
    return lines


def _consent_page(flow_id: str, flow: Flow, app: App, is_admin: bool) -> HttpResponse:
    return page("consent.html", {
        "flow_id": flow_id, "app": app, "tenant": current().directory.tenant, "upn": flow.upn,
        "permissions": _permission_lines(flow, app), "admin_consent": flow.kind == "adminconsent",
        "can_consent_for_org": is_admin and flow.kind != "adminconsent",
        "action": f"/{flow.tenant_segment}/consent",
    })


def _admin_approval_page(flow_id: str, flow: Flow, app: App) -> HttpResponse:
    return page("approval.html", {
        "flow_id": flow_id, "app": app, "tenant": current().directory.tenant, "upn": flow.upn,
        "permissions": _permission_lines(flow, app), "action": f"/{flow.tenant_segment}/consent",
    })


@csrf_exempt
@require_POST
def consent(request: HttpRequest, tenant: str) -> HttpResponse:
    flow_id, flow = _flow_or_error(request)
    if flow is None or not flow.upn:
        return _expired_page()
    store = current()
    store.end_flow(flow_id)
    state, mode = flow.params.get("state", ""), flow.params.get("response_mode", "query")
    action = request.POST.get("action", "")
    if action == "accept" and flow.kind == "adminconsent":
        app = store.directory.app(flow.client_id)
        for resource, perms in app.permissions.items():
            store.grant_consent(app.client_id, "AllPrincipals", resource, perms)
        return back_to_app(flow.redirect_uri, {"admin_consent": "True", "tenant": store.directory.tenant.id,
                                               "scope": flow.params.get("scope", ""), "state": state})
    if action == "accept" and _may_consent(flow):
        principal = "AllPrincipals" if request.POST.get("for_organization") else flow.upn
        store.grant_consent(flow.client_id, principal, flow.resource, flow.permissions)
        return _issue_code(flow_id, flow)
    if action == "accept" or action == "request_admin":
        return error_back_to_app(flow.redirect_uri, AadError(90094), state, mode)
    return error_back_to_app(flow.redirect_uri, AadError(65004), state, mode, subcode="cancel")


def _may_consent(flow: Flow) -> bool:
    store = current()
    user = store.directory.user(flow.upn)
    return bool(user and (user.is_admin or store.directory.tenant.users_can_consent))


def _issue_code(flow_id: str, flow: Flow) -> HttpResponse:
    store = current()
    store.end_flow(flow_id)
    code = store.add_code(Code(
        client_id=flow.client_id, redirect_uri=flow.redirect_uri, tenant_id=store.directory.tenant.id,
        upn=flow.upn, resource=flow.resource, environment=flow.environment, permissions=flow.permissions,
        oidc=flow.oidc, nonce=flow.params.get("nonce", ""), code_challenge=flow.params.get("code_challenge", ""),
    ))
    return back_to_app(flow.redirect_uri, {"code": code, "state": flow.params.get("state", ""),
                                           "session_state": str(uuid.uuid4())},
                       flow.params.get("response_mode", "query"))


@require_GET
def logout(request: HttpRequest, tenant: str) -> HttpResponse:
    """The sandbox keeps no browser session, so signing out only needs the way back."""
    target = request.GET.get("post_logout_redirect_uri", "")
    parts = urlsplit(target)
    if parts.scheme in {"http", "https"} and parts.hostname in LOOPBACK_HOSTS:
        return HttpResponseRedirect(target)
    return page("signed_out.html", {"tenant": current().directory.tenant})


@require_GET
def userinfo(request: HttpRequest) -> HttpResponse:
    """OpenID Connect userinfo for a token issued for Microsoft Graph (the OIDC-only default)."""
    store = current()
    header = request.headers.get("Authorization", "")
    try:
        claims = tokens.verify(header[7:].strip(), key=store.material.signing_key, kid=store.material.kid,
                               audience=scopes_mod.GRAPH_URI,
                               iss=tokens.issuer(backchannel_base(), store.directory.tenant.id))
    except tokens.InvalidToken as exc:
        response = HttpResponse(b"", status=401)
        response["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{exc}"'
        return response
    return JsonResponse({"sub": claims.get("sub"), "name": claims.get("name"),
                         "email": claims.get("preferred_username")})
