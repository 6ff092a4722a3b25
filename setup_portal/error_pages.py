"""The portal's own 404 and 405 pages, with DEBUG on as well as off.

With DEBUG on, Django answers a 404 with its technical page, which lists every URL pattern of
the portal; `make run` runs with DEBUG on, so a mistyped address showed the whole URL map. And
`require_POST` answers a GET with a 405 and an empty body, which a browser shows as a blank page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, reverse
from django.views.defaults import page_not_found

from setup_portal.api.problems import Problem, problem_response

API_PREFIX = "/api/"


class ErrorPageMiddleware:
    """Last in MIDDLEWARE, so the page it renders still gets the headers of the middleware above
    it (X-Frame-Options, CSP with DEBUG off) and CommonMiddleware's slash redirect still applies.
    Under /api/ both answers are problem details, as the APIs answer every other error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 404 and getattr(request, "resolver_match", None) is None:
            # No URL pattern matched: Django answered with its technical page (DEBUG on) or handler404.
            return self._not_found(request, Resolver404({"path": request.path_info}))
        if response.status_code == 405 and not response.streaming and not response.content:
            return self._method_not_allowed(request, response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404):
            return self._not_found(request, exception)
        return None

    def _not_found(self, request: HttpRequest, exception: Http404) -> HttpResponse:
        if _is_api(request):
            return problem_response(Problem(404, "Nothing here. The management API's operations are listed at "
                                            f"{reverse('rest:docs')}."), request.path)
        return page_not_found(request, exception)

    def _method_not_allowed(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        allowed = response.get("Allow", "")
        if _is_api(request):
            answer = problem_response(Problem(405, f"{request.method} is not allowed here; use {allowed}."),
                                      request.path)
        else:
            answer = render(request, "405.html", {"allowed": allowed.split(", ") if allowed else []}, status=405)
        if allowed:
            answer["Allow"] = allowed
        return answer


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)
