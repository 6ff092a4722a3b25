"""Helpers shared by the sandbox's views."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.http import HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string

from .. import info
from ..directory import App, Tenant
from ..errors import AadError
from ..state import Store, store

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
TENANT_ALIASES = {"common", "organizations"}


def current() -> Store:
    return store()


def browser_base() -> str:
    return info.bases()[0]


def backchannel_base() -> str:
    return info.bases()[1]


def resolve_tenant(segment: str) -> Tenant | None:
    """The tenant a path names; None for `common` / `organizations`; AADSTS90002 otherwise."""
    if segment.lower() in TENANT_ALIASES:
        return None
    tenant = current().directory.tenant
    if not tenant.matches(segment):
        raise AadError(90002, tenant=segment)
    return tenant


def redirect_uri_allowed(app: App, uri: str) -> bool:
    """Exact, case-sensitive match — except that loopback URIs match on any port, as in Azure."""
    if uri in app.redirect_uris:
        return True
    asked = urlsplit(uri)
    if asked.scheme != "http" or asked.hostname not in LOOPBACK_HOSTS:
        return False
    for registered in app.redirect_uris:
        reg = urlsplit(registered)
        if (reg.scheme == "http" and reg.hostname == asked.hostname and (reg.path or "/") == (asked.path or "/")
                and reg.query == asked.query):
            return True
    return False


def page(template: str, context: dict, status: int = 200) -> HttpResponse:
    # Rendered without the request so the portal's context processors never run here.
    context = {"tenant": current().directory.tenant, **context}
    response = HttpResponse(render_to_string(f"sandbox/{template}", context), status=status)
    response["Cache-Control"] = "no-store"
    response["X-Frame-Options"] = "DENY"
    response["Referrer-Policy"] = "no-referrer"
    return response


def error_page(err: AadError) -> HttpResponse:
    """Azure shows a page, not a redirect, when it cannot trust the redirect URI."""
    return page("error.html", {"code": err.code, "error": err.error, "description": err.description,
                               "title": "Sorry, but we're having trouble signing you in."}, status=400)


def back_to_app(redirect_uri: str, params: dict[str, str], response_mode: str = "query") -> HttpResponse:
    """Send the browser back to the app with `params`, by query string or form_post."""
    params = {k: v for k, v in params.items() if v}
    if response_mode == "form_post":
        return page("form_post.html", {"action": redirect_uri, "params": params.items()})
    parts = urlsplit(redirect_uri)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return HttpResponseRedirect(urlunsplit(parts._replace(query=query)))


def error_back_to_app(redirect_uri: str, err: AadError, state: str, response_mode: str = "query",
                      subcode: str = "") -> HttpResponse:
    return back_to_app(redirect_uri, {"error": err.error, "error_description": err.description,
                                      "error_subcode": subcode, "state": state}, response_mode)
