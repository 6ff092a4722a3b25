from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from setup_portal.observability.views import metrics
from setup_portal.views import healthz, readyz

HEALTH_CHECK_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"


class HealthCheckMiddleware:
    """Answers the probes (and the metrics scrape) before any other middleware.

    Container and load-balancer probes, and Prometheus, call by IP over plain HTTP. In production,
    ALLOWED_HOSTS would answer 400 to that Host header and SECURE_SSL_REDIRECT would send the probe
    to https. The probes reveal nothing but reachability and the version; /metrics is answered
    here only when METRICS_TOKEN is set, and then only to that token (observability/views.py).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path == HEALTH_CHECK_PATH:
            return healthz(request)
        if path == READINESS_PATH:
            return readyz(request)
        if path == METRICS_PATH and settings.METRICS_TOKEN:
            return metrics(request)
        return self.get_response(request)
