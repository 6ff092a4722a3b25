"""Recording each call of the instance API, once the answer has been sent.

Bodies are kept only while the instance's trace logging is on (`trace_until` in the future),
with anything that looks like a secret or a token replaced, and cut to TRACE_LIMIT.

With CRM_CALL_LOG_WRITER "background" (the default) a call's row is handed to a writer thread of
the process, which INSERTs what has gathered in one transaction. Written in the request thread
instead ("inline"), the INSERT and its commit ran before gunicorn took the keep-alive connection
back, so the caller's next request waited for it: under 8 concurrent connections that was most
of the slowest answers (a commit's fsync under SQLite's write lock; bench/RESULTS.md, issue 23).
No row is dropped on the way: the writer drains its queue before the process ends (gunicorn's
worker_exit hook in config/gunicorn.py, and atexit), and a batch the database refuses is written
again row by row, so only the row that cannot be written (an instance deleted meanwhile) is lost.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import weakref

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from setup_portal.crm.resources import RESOURCES
from setup_portal.instances.models import Instance
from setup_portal.observability import context, metrics
from setup_portal.redaction import redact

from ..models import ApiCall

logger = logging.getLogger(__name__)

TRACE_LIMIT = 16_000  # characters per body
# The metrics' resource label: a friendly resource, "raw", or any other table as "table" (never its name).
_RESOURCE_KINDS = frozenset(RESOURCES) | {"raw"}
_TRACED_HEADERS = ("Content-Type", "If-Match", "If-None-Match", "Prefer", "Idempotency-Key", "User-Agent")


def _cut(value):
    text = json.dumps(value, default=str)
    if len(text) <= TRACE_LIMIT:
        return value
    return {"truncated": True, "start": text[:TRACE_LIMIT]}


def tracing(instance: Instance) -> bool:
    return instance.trace_logging_on()


def trace_of(request, request_body, response) -> dict:
    headers = {name: request.headers[name] for name in _TRACED_HEADERS if name in request.headers}
    response_body = getattr(response, "data", None)
    if response_body is None and response.get("Content-Type", "").startswith("application/json"):
        try:
            response_body = json.loads(response.content)
        except ValueError:
            response_body = None
    return {"request": {"path": request.path, "query": redact({k: v for k, v in request.GET.lists()}),
                        "headers": redact(headers), "body": _cut(redact(request_body))},
            "response": {"status": response.status_code, "body": _cut(redact(response_body))}}


def caller_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# The INSERT is built once per database connection object (they are per thread) and each value
# is prepared by its model field, as ApiCall.objects.create() would: the ORM's model instance,
# signals-free save and SQL compilation cost more CPU than the insert itself, on every call.
_FIELDS = tuple(f for f in ApiCall._meta.concrete_fields if not f.primary_key)
_inserts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _insert_sql(connection) -> str:
    sql = _inserts.get(connection)
    if sql is None:
        quote = connection.ops.quote_name
        sql = (f"INSERT INTO {quote(ApiCall._meta.db_table)} ({', '.join(quote(f.column) for f in _FIELDS)}) "
               f"VALUES ({', '.join(['%s'] * len(_FIELDS))})")
        _inserts[connection] = sql
    return sql


def _row(instance_id, *, method: str, resource: str, status: int, latency_ms: int, upstream=None,
         caller: str | None, trace: dict | None, request_id: str | None = None) -> dict:
    return {"instance_id": instance_id, "created_at": timezone.now(), "method": method[:8],
            "resource": resource[:40], "status": status, "latency_ms": latency_ms,
            "upstream_ms": upstream.upstream_ms if upstream else None, "retries": upstream.retries if upstream else 0,
            "request_id": upstream.request_id if upstream else "", "caller_ip": caller, "trace": trace,
            "portal_request_id": (request_id or "")[:64]}


def _write(rows: list[dict]) -> None:
    connection = connections[ApiCall.objects.db]
    params = [[f.get_db_prep_save(row[f.attname], connection) for f in _FIELDS] for row in rows]
    with connection.cursor() as cursor:
        if len(params) == 1:
            cursor.execute(_insert_sql(connection), params[0])
        else:
            cursor.executemany(_insert_sql(connection), params)


def record(instance: Instance, **fields) -> None:
    """Write the call's row now, in this thread."""
    _write([_row(instance.pk, **fields)])


class _Writer:
    """This process's writer thread: rows from a queue, written a batch per transaction."""

    BATCH = 500

    def __init__(self):
        self.rows: queue.Queue = queue.Queue()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="call-log-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            rows = [self.rows.get()]
            while len(rows) < self.BATCH:
                try:
                    rows.append(self.rows.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(rows)
            finally:
                for _ in rows:
                    self.rows.task_done()

    @staticmethod
    def _write(rows: list[dict]) -> None:
        close_old_connections()  # this thread's connection, past CONN_MAX_AGE or broken
        try:
            with transaction.atomic(using=ApiCall.objects.db):
                _write(rows)
            return
        except Exception:
            if len(rows) == 1:
                logger.exception("The instance API could not record a call of instance %s", rows[0]["instance_id"])
                return
        for row in rows:  # the batch was refused: write what can be written
            try:
                _write([row])
            except Exception:
                logger.exception("The instance API could not record a call of instance %s", row["instance_id"])


_writer: _Writer | None = None
_writer_lock = threading.Lock()


def _background() -> _Writer:
    global _writer
    with _writer_lock:
        if _writer is None or _writer.pid != os.getpid():  # none yet, or one inherited across a fork
            _writer = _Writer()
        return _writer


def flush() -> None:
    """Wait until every row handed to this process's writer is written (at exit, and in tests)."""
    writer = _writer
    if writer is not None and writer.pid == os.getpid():
        writer.rows.join()


atexit.register(flush)


def resource_kind(label: str) -> str:
    name = label.removesuffix("/{id}")
    return name if name in _RESOURCE_KINDS else "unknown" if name == "?" else "table"


def count(*, method: str, resource: str, status: int, latency_ms: int, upstream=None, **_) -> None:
    """The call's series (a counter and two histograms: nothing slower on the hot path)."""
    kind = resource_kind(resource)
    metrics.child(metrics.instance_api_calls, kind, metrics.method_label(method), str(status)).inc()
    metrics.child(metrics.instance_api_duration, kind).observe(latency_ms / 1000)
    if upstream is not None:
        metrics.child(metrics.dataverse_duration, kind).observe(upstream.upstream_ms / 1000)


def record_after_sending(response, instance: Instance, **fields) -> None:
    """Record the call when the server closes the response, i.e. after the caller has it.

    Django runs a response's resource closers from `close()`, which WSGI servers call once
    the body is written; there the row goes to the writer thread ("background"), or is written
    ("inline", which the caller's next request on the connection waits for).
    """
    count(**fields)
    fields.setdefault("request_id", context.get("request_id"))
    if settings.CRM_CALL_LOG_WRITER == "background":
        row = _row(instance.pk, **fields)  # the time of the call, not of the write
        response._resource_closers.append(lambda: _background().rows.put(row))
        return

    def write() -> None:
        try:
            record(instance, **fields)
        except Exception:  # the caller has its answer; a lost log row must not become an error page
            logger.exception("The instance API could not record a call of instance %s", instance.pk)

    response._resource_closers.append(write)
