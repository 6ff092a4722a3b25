"""Every request: its id (X-Request-ID kept when sane, else made; echoed on the answer), the ids
its log lines carry, and its count and latency by route name.

Placed right after the health check and before the instance API's short way (api/middleware.py),
so API calls are counted too. The route is the resolver's view name (or its pattern when the
route has no name), never the path: one series per route, whatever ids the path holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import context, metrics

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "unmatched"


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED  # refused or redirected before routing (host, HTTPS), or no route at all
    return match.view_name or match.route or UNMATCHED


class RequestObservabilityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request.request_id = context.request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.context_tokens = context.bind(request_id=request.request_id)
        try:
            response = self.get_response(request)
        except BaseException:
            context.unbind(request.context_tokens)
            raise
        # The ids stay bound until the server closes the answer: Django logs a 4xx or 5xx answer
        # ("Not Found: ...") after the middleware has returned it, and the call log is written then.
        response._resource_closers.append(lambda: context.unbind(request.context_tokens))
        route, method = route_of(request), metrics.method_label(request.method)
        metrics.child(metrics.http_requests, route, method, str(response.status_code)).inc()
        metrics.child(metrics.http_duration, route, method).observe(time.perf_counter() - started)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        # Pages: the signed-in user is known once the session middleware has run (the user is lazy;
        # the view reads it anyway). The instance API binds its instance itself (api/crm/views.py).
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context.bind_to_request(request, user_id=user.pk)
