"""GET /metrics: the Prometheus text format, only when METRICS_TOKEN is set and sent as a Bearer token.

Answered by HealthCheckMiddleware (setup_portal/middleware.py), before host validation: Prometheus
scrapes a pod by its address. With METRICS_PORT instead, the series are served on that port by the
gunicorn master and the Celery worker (exporter.serve), and /metrics stays off.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from .scrape import exposition


def _bearer(request: HttpRequest) -> str:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not hmac.compare_digest(_bearer(request).encode(), settings.METRICS_TOKEN.encode()):
        return HttpResponse("A metrics token is needed.\n", status=401, content_type="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
