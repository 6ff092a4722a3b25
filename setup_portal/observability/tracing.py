"""Traces with OpenTelemetry, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

One trace follows a request into the Celery task it queues (the context travels in the task's
headers: the Celery instrumentation) and out to Azure AD and Dataverse (requests' instrumentation
for msal and the Dataverse client; a span of our own around the instance API's kept-open
connections, transport.py, which do not go through requests).

Secrets stay out of spans: headers are never captured (OpenTelemetry's default, left alone), URLs
lose their query strings (an OAuth callback's `code`, an OData filter's values) and their user
info, and a server span's path is replaced by its route (a password reset key is a path segment).
Reference: https://opentelemetry.io/docs/zero-code/python/configuration/ (OTEL_* variables),
https://opentelemetry-python-contrib.readthedocs.io/en/latest/instrumentation/celery/celery.html
(initialise in worker_process_init under prefork).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# Probes and scrapes would be most of the traces and tell nothing.
EXCLUDED_URLS = "healthz,readyz,metrics"
_URL_ATTRIBUTES = ("http.url", "url.full")
_TARGET_ATTRIBUTES = ("http.target", "url.path")
_QUERY_ATTRIBUTES = ("url.query",)

_tracer: trace.Tracer | None = None


def enabled() -> bool:
    return _tracer is not None


def without_query(url: str) -> str:
    """`url` without its query, fragment and user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _scrub(span, route: str | None = None) -> None:
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        if name in attributes:
            url = without_query(str(attributes[name]))
            if route is not None:
                url = urlunsplit(urlsplit(url)._replace(path="/" + route.lstrip("/")))
            span.set_attribute(name, url)
    for name in _TARGET_ATTRIBUTES:
        if name in attributes:
            path = "/" + route.lstrip("/") if route is not None else str(attributes[name]).split("?")[0]
            span.set_attribute(name, path)
    for name in _QUERY_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, "")


def _django_request(span, request) -> None:
    _scrub(span)


def _django_response(span, request, response) -> None:
    match = getattr(request, "resolver_match", None)
    _scrub(span, route=(match.route or match.view_name) if match is not None else "unmatched")


def _outbound_request(span, request) -> None:
    _scrub(span)


def configure(processor: SpanProcessor | None = None) -> TracerProvider | None:
    """Trace this process: to `processor` (tests: the SDK's in-memory exporter), else in batches over
    OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT; nothing when neither is there. Call it before the WSGI
    handler loads its middleware (config/wsgi.py) and in each Celery pool process (celery_signals.py)."""
    global _tracer
    # Should someone turn header capture on (OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*), these stay masked.
    os.environ.setdefault("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS",
                          "authorization,proxy-authorization,cookie,set-cookie,.*token.*,.*secret.*,.*key.*")
    if processor is None:
        if not settings.OTEL_EXPORTER_OTLP_ENDPOINT or _tracer is not None:
            return None
        processor = BatchSpanProcessor(OTLPSpanExporter())  # reads the OTEL_EXPORTER_OTLP_* variables
    provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
    provider.add_span_processor(processor)
    DjangoInstrumentor().instrument(tracer_provider=provider, excluded_urls=EXCLUDED_URLS,
                                    request_hook=_django_request, response_hook=_django_response)
    RequestsInstrumentor().instrument(tracer_provider=provider, request_hook=_outbound_request)
    CeleryInstrumentor().instrument(tracer_provider=provider)
    _tracer = provider.get_tracer(__name__)
    return provider


def unconfigure() -> None:
    """Undo configure() (tests)."""
    global _tracer
    for instrumentor in (DjangoInstrumentor(), RequestsInstrumentor(), CeleryInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    _tracer = None


class _Untraced:
    headers: dict[str, str] = {}

    def __enter__(self) -> _Untraced:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def answered(self, status: int) -> None:
        return None


_UNTRACED = _Untraced()


def outbound_span(system: str, method: str, url: str) -> _Untraced | _Outbound:
    """A client span for a call that requests' instrumentation does not see. Send `.headers` with the
    call (they carry the trace to the server) and tell `.answered(status)`. While tracing is off it is
    one shared object that does nothing (the instance API's hot path pays an attribute lookup)."""
    if _tracer is None:
        return _UNTRACED
    return _Outbound(_tracer, system, method, url)


class _Outbound:
    def __init__(self, tracer: trace.Tracer, system: str, method: str, url: str):
        self._span_cm = tracer.start_as_current_span(
            f"{system} {method}", kind=trace.SpanKind.CLIENT,
            attributes={"http.request.method": method, "url.full": without_query(url), "peer.service": system})
        self.headers: dict[str, str] = {}

    def __enter__(self) -> _Outbound:
        self.span = self._span_cm.__enter__()
        propagate.inject(self.headers)
        return self

    def __exit__(self, *exc):
        return self._span_cm.__exit__(*exc)

    def answered(self, status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(trace.Status(trace.StatusCode.ERROR))
