"""The instance API's own short way through the middleware.

Applications call /api/v1/crm/ with an instance token: no session, cookie, CSRF token, user,
message or page. The page middleware (sessions, CSRF, authentication, messages, allauth, and
django-csp building its policy) cost about a fifth of a call's CPU for nothing, so this
middleware sits right after SecurityMiddleware (HTTPS redirect, HSTS, nosniff, referrer policy
still apply) and sends API paths straight to their view. Their answers get the headers a JSON
answer needs from the skipped middleware: a Content-Security-Policy that allows nothing (an API
answer is never a page; OWASP's advice for REST services), the portal's Permissions-Policy, and
X-Frame-Options.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver, reverse
from django_permissions_policy import PermissionsPolicyMiddleware

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


class InstanceApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        # django-permissions-policy computes its header once; it wraps the view call to add it.
        self._with_permissions_policy = PermissionsPolicyMiddleware(self._answer)
        self._prefix = ""
        self._resolver = get_resolver("setup_portal.api.crm.urls")  # its routes, below the API's own root

    def _api_prefix(self) -> str:
        if not self._prefix:
            self._prefix = reverse("crm_api:raw", kwargs={"path": ""}).removesuffix("raw/")
        return self._prefix

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(self._api_prefix()):
            return self.get_response(request)
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check it (DisallowedHost: 400)
        response = self._with_permissions_policy(request)
        response["Content-Security-Policy"] = API_CONTENT_SECURITY_POLICY
        response.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response

    def _answer(self, request: HttpRequest) -> HttpResponse:
        match = self._resolver.resolve("/" + request.path_info[len(self._prefix):])
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render") and not response.is_rendered:
            response = response.render()
        return response
