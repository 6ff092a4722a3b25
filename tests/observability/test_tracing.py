"""One trace from a page request, through the Celery task it queues, to Azure AD and Dataverse.

The web side runs in this process with the SDK's in-memory exporter; the task runs in a real
Celery worker process, which exports over OTLP/HTTP (its ordinary exporter) to a small receiver
here. The task's span must be a child of the request's trace, and the worker's calls children of
the task. No span attribute carries a secret, a token or a query string.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.urls import reverse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from config.celery import app as celery_app
from setup_portal.observability import tracing
from tests.api.conftest import Caller, issue_token
from tests.conftest import WorkerProcess
from tests.instances.factories import SECRET, sandbox_s2s_instance


class _Receiver(BaseHTTPRequestHandler):
    spans: list[dict]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.server.spans.append({
                        "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_id": span.parent_span_id.hex(),
                        "attributes": {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}})
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def traced_worker(tmp_path, transactional_db, collector, sandbox, clean_sandbox):
    celery_app.control.purge()
    worker = WorkerProcess(tmp_path / "worker.log", env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100"})
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def web_spans():
    exporter = InMemorySpanExporter()
    tracing.configure(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.unconfigure()


def _wait_for(predicate, what: str, log, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{log()[-3000:]}")


@pytest.mark.slow
def test_a_request_its_task_and_the_calls_to_microsoft_are_one_trace(web_spans, traced_worker, collector, alice,
                                                                     sandbox):
    inst = sandbox_s2s_instance(alice, sandbox.info)
    client = Client()  # a new handler: it loads the middleware tracing added
    client.force_login(alice)
    url = reverse("instances:test_connection", args=[inst.pk])
    assert client.post(f"{url}?code=not-a-real-code", {"confirmed": "yes"}).status_code in (200, 302)

    request_span = next(s for s in web_spans.get_finished_spans() if s.kind.name == "SERVER")
    trace_id = format(request_span.context.trace_id, "032x")
    published = [s for s in web_spans.get_finished_spans() if s.name.startswith("apply_async/")]
    assert published and format(published[0].context.trace_id, "032x") == trace_id

    def worker_spans() -> list[dict] | None:
        spans = [s for s in collector.spans if s["trace_id"] == trace_id]
        names = " ".join(s["name"] for s in spans)
        return spans if "run/" in names and "dataverse" in str(spans) and "token" in str(spans) else None

    spans = _wait_for(worker_spans, "the worker's spans", traced_worker.log)
    task = next(s for s in spans if s["name"].startswith("run/"))
    assert task["parent_id"] == format(published[0].context.span_id, "016x")
    calls = [s for s in spans if s["parent_id"] and s is not task and s["name"] in ("POST", "GET")]
    urls = [c["attributes"].get("url.full") or c["attributes"].get("http.url", "") for c in calls]
    assert any(u.endswith("/oauth2/v2.0/token") for u in urls), urls  # Azure AD
    assert any("/api/data/v9.2/WhoAmI" in u for u in urls), urls  # Dataverse

    everything = str([s.attributes for s in web_spans.get_finished_spans()]) + str(spans)
    for secret in (SECRET, sandbox.info["s2s_client_secret"], "not-a-real-code", "Bearer", "?"):
        assert secret not in everything
    # The request's span names its route, not the path with the instance's id.
    assert request_span.attributes["http.url"] == "http://testserver/instances/<uuid:instance_id>/test-connection/"
    assert str(inst.pk) not in str(request_span.attributes)


def test_the_instance_apis_call_to_dataverse_is_a_child_span_without_its_query(web_spans, alice, sandbox,
                                                                                clean_sandbox, settings):
    settings.CRM_RATE_LIMIT = "off"
    inst = sandbox_s2s_instance(alice, sandbox.info, filter_nulls=False)
    app = Caller(inst, issue_token(inst), Client())
    assert app.get("/api/v1/crm/accounts", {"where": "name = 'Fourth Coffee'"}).status_code == 200

    spans = web_spans.get_finished_spans()
    server = next(s for s in spans if s.kind.name == "SERVER")
    dataverse = next(s for s in spans if s.name == "dataverse GET")
    assert dataverse.parent.span_id == server.context.span_id
    assert dataverse.attributes["url.full"].endswith("/api/data/v9.2/accounts")
    assert dataverse.attributes["http.response.status_code"] == 200
    everything = str([dict(s.attributes) for s in spans])
    assert "Fourth" not in everything and app.token not in everything and "Bearer" not in everything
