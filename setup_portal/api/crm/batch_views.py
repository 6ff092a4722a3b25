"""`POST batch`: a caller's list of up to 100 operations on this API's tables, sent as one Dataverse `$batch`.

Each operation is `{"method", "path", "body"}` with a path of this API (`accounts`, `cr8a2_projects/<id>`),
parsed into a table and an id, never pasted into a URL; bodies are converted and checked by the
table's field types as a single call would be, and a mistake refuses the whole batch (400, the
operation and field named) before anything is sent. With `"atomic": true` the writes go in one change
set: all of them happen or none.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from rest_framework.response import Response

from setup_portal.crm.errors import QueryError, shorten
from setup_portal.crm.query import select_option
from setup_portal.crm.reference import MAX_BATCH_OPERATIONS
from setup_portal.crm.resources import Resource, to_dataverse, to_record
from setup_portal.crm.tables import Table
from setup_portal.dataverse import batch
from setup_portal.text import whole_number

from ..problems import Problem
from . import gateway
from .bulk_views import table_of
from .views import RETURN_ROW, CrmView

MAX_OPERATIONS = MAX_BATCH_OPERATIONS
METHODS = {"GET": False, "DELETE": False, "POST": True, "PATCH": True}  # method -> takes a body
BATCH_KEYS = frozenset({"operations", "atomic"})
OPERATION_KEYS = frozenset({"method", "path", "body"})


@dataclass
class Operation:
    method: str
    table: Table
    resource: Resource
    record_id: str | None
    body: dict | None


class BatchView(CrmView):
    http_method_names = ["post", "options"]
    call_label = "batch"

    def post(self, request):
        return self.idempotent(request, lambda: self._run(request))

    def _run(self, request) -> Response:
        data = self.body(request)
        atomic, raw = _read(data)
        tables: dict[str, tuple[Table, Resource]] = {}
        operations = [self._operation(request, index, op, tables) for index, op in enumerate(raw)]
        if atomic and any(op.method == "GET" for op in operations):
            raise Problem(400, "An atomic batch holds writes only (POST, PATCH, DELETE): Dataverse runs no GET in a "
                          "change set.", slug="validation", errors={"atomic": ["GET operations cannot be atomic."]})
        base = gateway.web_api_base(request.auth)
        requests = [_request(base, index, op) for index, op in enumerate(operations)]
        content_type, body = batch.encode([batch.ChangeSet(tuple(requests))] if atomic else requests)
        # Continue-on-error also for one change set: the batch then answers 200 with the set's failure in it.
        headers = {"Content-Type": content_type, "Prefer": "odata.continue-on-error"}
        outcome = gateway.call(request._request, request.auth, "POST", "$batch", body=body, headers=headers)
        try:
            answers = batch.decode(outcome.response.headers.get("Content-Type", ""), outcome.response.content)
        except batch.BatchFormatError as exc:
            raise Problem(502, f"Dynamics CRM answered the batch with something the API cannot read: {exc}",
                          code="bad_response") from None
        results = _results(operations, answers, atomic, request.auth.filter_nulls)
        succeeded = sum(1 for r in results if r["status"] < 400)
        return Response({"atomic": atomic, "total": len(results), "succeeded": succeeded,
                         "failed": len(results) - succeeded, "results": results})

    def _operation(self, request, index: int, op: object, tables: dict) -> Operation:
        where = f"operations[{index}]"
        if not isinstance(op, dict) or set(op) - OPERATION_KEYS or not {"method", "path"} <= set(op):
            raise _refused(where, 'Each operation is {"method": ..., "path": ..., "body": {...}}.')
        method = op["method"].upper() if isinstance(op["method"], str) else ""
        if method not in METHODS:
            raise _refused(f"{where}.method", "The method is GET, POST, PATCH or DELETE.")
        name, record_id = _path(op["path"], where)
        if (record_id is None) != (method == "POST"):
            raise _refused(f"{where}.path", f"{method} takes " + ("<table>." if method == "POST" else "<table>/<id>."))
        if name not in tables:
            tables[name] = table_of(request._request, request.auth, name)
        table, resource = tables[name]
        if method != "GET" and not resource.writable:
            raise _refused(f"{where}.path", f"{resource.name} are read-only.")
        body = None
        if METHODS[method]:
            try:
                body = to_dataverse(op.get("body"), resource, creating=method == "POST")
            except QueryError as exc:
                raise _refused(f"{where}.body" + (f".{exc.field}" if exc.field else ""), exc.message) from None
        elif op.get("body") is not None:
            raise _refused(f"{where}.body", f"{method} takes no body.")
        return Operation(method, table, resource, record_id, body)


def _read(data: object) -> tuple[bool, list]:
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list) or set(data) - BATCH_KEYS:
        raise _refused("operations", 'The body is {"operations": [ {"method", "path", "body"}, ... ]} and '
                       'optionally "atomic": true.')
    if not 1 <= len(data["operations"]) <= MAX_OPERATIONS:
        raise _refused("operations", f"Send 1 to {MAX_OPERATIONS} operations in one batch.")
    atomic = data.get("atomic", False)
    if not isinstance(atomic, bool):
        raise _refused("atomic", "'atomic' is true or false.")
    return atomic, data["operations"]


def _path(path: object, where: str) -> tuple[str, str | None]:
    """`<table>` or `<table>/<id>`: a name of this API and a GUID, nothing else."""
    if not isinstance(path, str):
        raise _refused(f"{where}.path", "The path is <table> or <table>/<id>, e.g. accounts/<guid>.")
    parts = path.strip("/").split("/")
    name = parts[0]
    if len(parts) > 2 or not name or not (name.replace("_", "").isalnum() and name.isascii()):
        raise _refused(f"{where}.path", f"'{shorten(path)}' is not <table> or <table>/<id>.")
    if len(parts) == 1:
        return name, None
    try:
        return name, str(uuid.UUID(parts[1]))
    except ValueError:
        raise _refused(f"{where}.path", f"'{shorten(parts[1])}' is not a record id (a GUID).") from None


def _refused(where: str, message: str) -> Problem:
    return Problem(400, f"{where}: {message}", slug="validation", errors={where: [message]})


def _request(base: str, index: int, op: Operation) -> batch.Request:
    select = urlencode({"$select": select_option(op.resource)})
    content_id = str(index + 1)
    if op.method == "POST":
        return batch.Request("POST", f"{base}{op.table.entity_set}?{select}", op.body, content_id,
                             {"Prefer": RETURN_ROW})
    url = f"{base}{op.table.entity_set}({op.record_id})"
    if op.method == "PATCH":  # If-Match: * keeps an update of a missing record a 404, as PATCH <table>/<id> does
        return batch.Request("PATCH", f"{url}?{select}", op.body, content_id, {"Prefer": RETURN_ROW, "If-Match": "*"})
    if op.method == "GET":
        return batch.Request("GET", f"{url}?{select}", None, content_id)
    return batch.Request("DELETE", url, None, content_id)


def _results(operations: list[Operation], answers: list, atomic: bool, drop_nulls: bool) -> list[dict]:
    if atomic:
        answer = answers[0] if len(answers) == 1 else None
        if isinstance(answer, list) and len(answer) == len(operations):
            return [_result(i, op, a, drop_nulls) for i, (op, a) in enumerate(zip(operations, answer, strict=True))]
        if isinstance(answer, batch.Answer) and answer.status >= 400:
            failed = (whole_number(answer.content_id) or 0) - 1
            return [_result(i, op, answer, drop_nulls) if i == failed else _rolled_back(i, failed)
                    for i, op in enumerate(operations)]
    elif len(answers) == len(operations) and not any(isinstance(a, list) for a in answers):
        return [_result(i, op, a, drop_nulls) for i, (op, a) in enumerate(zip(operations, answers, strict=True))]
    raise Problem(502, "Dynamics CRM answered the batch with another number of answers than operations.",
                  code="bad_response")


def _result(index: int, op: Operation, answer: batch.Answer, drop_nulls: bool) -> dict:
    result: dict = {"index": index, "status": answer.status}
    if answer.status >= 400:
        code, message = answer.error
        result["problem"] = {"status": answer.status, "detail": message or f"Dynamics CRM answered {answer.status}.",
                             **({"code": code} if code else {})}
        return result
    row = answer.json()
    if isinstance(row, dict):
        result["record"] = to_record(row, op.resource, drop_nulls=drop_nulls)
    if op.method == "POST":
        result["status"] = 201
        result["id"] = (result.get("record") or {}).get("id") or answer.entity_id
    return result


def _rolled_back(index: int, failed: int) -> dict:
    detail = (f"Not written: operation {failed} failed, so the atomic batch was rolled back." if failed >= 0
              else "Not written: the atomic batch failed and was rolled back.")
    return {"index": index, "status": 424, "problem": {"status": 424, "detail": detail}}

