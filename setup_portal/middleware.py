from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from setup_portal.views import healthz

HEALTH_CHECK_PATH = "/healthz"


class HealthCheckMiddleware:
    """Answers the health check before any other middleware.

    Container and load-balancer probes call /healthz by IP over plain HTTP. In production,
    ALLOWED_HOSTS would answer 400 to that Host header and SECURE_SSL_REDIRECT would send
    the probe to https. The answer reveals nothing but reachability and the version.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_CHECK_PATH:
            return healthz(request)
        return self.get_response(request)
