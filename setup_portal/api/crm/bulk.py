"""Sending a bulk call's checked records to Dataverse, CHUNK at a time, and reading back each record's outcome.

A chunk goes as one CreateMultiple or UpsertMultiple request. On Dataverse's standard tables such a
request stands or falls as a whole, so when Dataverse refuses one (a record it will not take, or a
table without the message) the same chunk is sent again as a `$batch` of one request per record with
`Prefer: odata.continue-on-error`, which tells each record's outcome; a table without the messages
goes by `$batch` from then on. A failure that is not about the records (throttling, an unreachable
service, the instance's sign-in) before anything was written is the call's problem; after some
chunks were written, the rest are reported as not sent with that problem, so the caller knows
exactly which records to send again.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations,
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import re
import uuid

from setup_portal.crm.bulk import BulkCall, Outcome, Pending, Plan, key_filters, refused
from setup_portal.crm.resources import Resource
from setup_portal.crm.tables import Table
from setup_portal.dataverse import batch

from ..problems import Problem
from . import gateway

CHUNK = 100  # records per CreateMultiple / UpsertMultiple request, and per $batch
NOT_SUPPORTED = "0x8004800d"  # "The 'CreateMultiple' message is not available for the entity …"
KEY_PAGE = 500  # rows read per key lookup (at most 50 key values each)
_QUOTED = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)'")


class Sender:
    def __init__(self, request, instance, table: Table, resource: Resource):
        self.request, self.instance, self.table, self.resource = request, instance, table, resource
        self.use_multiple = True
        self.sent_as: set[str] = set()
        self.requests = 0

    def write(self, call: BulkCall, plan: Plan) -> list[Outcome]:
        outcomes = list(plan.refused)
        pending = plan.pending
        if call.mode == "upsert":
            pending, ambiguous = self._match(call, pending)
            outcomes += ambiguous
        stop: Problem | None = None
        written = False
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start:start + CHUNK]
            if stop is None:
                try:
                    outcomes += self._chunk(call.mode, chunk)
                    written = True
                    continue
                except Problem as exc:
                    if not written:
                        raise
                    stop = exc
            outcomes += [_not_sent(p.index, stop) for p in chunk]
        return sorted(outcomes, key=lambda o: o.index)

    # --- one chunk -----------------------------------------------------------------------------
    def _chunk(self, mode: str, chunk: list[Pending]) -> list[Outcome]:
        if self.use_multiple:
            try:
                return self._multiple(mode, chunk)
            except Problem as exc:
                if not self._about_records(exc):
                    raise
                if exc.code == NOT_SUPPORTED:
                    self.use_multiple = False
        return self._batch(mode, chunk)

    def _about_records(self, exc: Problem) -> bool:
        """Whether Dataverse itself refused the request's content (so a $batch can tell which record)."""
        upstream = getattr(self.request, "crm_upstream", None)
        answered = upstream.response.status_code if upstream is not None else 0
        return answered == exc.status_code and 400 <= answered < 500 and answered not in (401, 429)

    def _multiple(self, mode: str, chunk: list[Pending]) -> list[Outcome]:
        action = "CreateMultiple" if mode == "create" else "UpsertMultiple"
        odata_type = f"Microsoft.Dynamics.CRM.{self.table.logical_name}"
        targets = [{**self._body(mode, p), "@odata.type": odata_type} for p in chunk]
        self.requests += 1
        outcome = gateway.call(self.request, self.instance, "POST",
                               f"{self.table.entity_set}/Microsoft.Dynamics.CRM.{action}", body={"Targets": targets})
        self.sent_as.add(action)
        if mode == "upsert":
            return [Outcome(p.index, 200 if p.exists else 201, p.id) for p in chunk]
        ids = (gateway.json_of(outcome.response) or {}).get("Ids") if outcome.response.content else None
        if not isinstance(ids, list) or len(ids) != len(chunk):
            raise Problem(502, "Dynamics CRM answered CreateMultiple without the ids of the records it created.",
                          code="bad_response")
        return [Outcome(p.index, 201, str(i)) for p, i in zip(chunk, ids, strict=True)]

    def _body(self, mode: str, pending: Pending) -> dict:
        if mode == "upsert":
            return {**pending.body, self.table.primary_id: pending.id}
        return pending.body

    def _without_key(self, body: dict) -> dict:
        return {column: value for column, value in body.items() if column != self.table.primary_id}

    def _batch(self, mode: str, chunk: list[Pending]) -> list[Outcome]:
        base = gateway.web_api_base(self.instance)
        requests = [batch.Request("POST", base + self.table.entity_set, p.body) if mode == "create" else
                    batch.Request("PATCH", f"{base}{self.table.entity_set}({p.id})", self._without_key(p.body))
                    for p in chunk]
        content_type, body = batch.encode(requests)
        self.requests += 1
        outcome = gateway.call(self.request, self.instance, "POST", "$batch", body=body,
                               headers={"Content-Type": content_type, "Prefer": "odata.continue-on-error"})
        self.sent_as.add("$batch")
        try:
            answers = batch.decode(outcome.response.headers.get("Content-Type", ""), outcome.response.content)
        except batch.BatchFormatError as exc:
            raise Problem(502, f"Dynamics CRM answered the batch with something the API cannot read: {exc}",
                          code="bad_response") from None
        if len(answers) != len(chunk) or any(isinstance(a, list) for a in answers):
            raise Problem(502, "Dynamics CRM answered the batch with another number of answers than requests.",
                          code="bad_response")
        return [self._answered(mode, p, a) for p, a in zip(chunk, answers, strict=True)]  # type: ignore[misc]

    def _answered(self, mode: str, pending: Pending, answer: batch.Answer) -> Outcome:
        if answer.status < 400:
            if mode == "upsert":
                return Outcome(pending.index, 200 if pending.exists else 201, pending.id)
            return Outcome(pending.index, 201, answer.entity_id)
        code, message = answer.error
        return refused(pending.index, answer.status, message or f"Dynamics CRM answered {answer.status}.",
                       field_name=self._field_named(message), code=code)

    def _field_named(self, message: str) -> str | None:
        """The API field a Dataverse error message names by its column, if any."""
        for word in _QUOTED.findall(message):
            f = self.resource.field(word)
            if f is not None:
                return f.name
        return None

    # --- upsert: which records exist ------------------------------------------------------------
    def _match(self, call: BulkCall, pending: list[Pending]) -> tuple[list[Pending], list[Outcome]]:
        """Each record's id (an existing row's, the one given, or a new one) and whether it exists."""
        key = call.key
        with_value = [p for p in pending if p.body.get(key.column) is not None]
        found: dict[object, list[str]] = {}
        for where in key_filters(key, self.resource, [p.body[key.column] for p in with_value]):
            self.requests += 1
            outcome = gateway.call(self.request, self.instance, "GET", self.table.entity_set,
                                   params={"$filter": where, "$select": _select(key.column, self.table.primary_id)},
                                   headers={"Prefer": f"odata.maxpagesize={KEY_PAGE}"})
            data = gateway.json_of(outcome.response)
            for row in data.get("value", []) if isinstance(data, dict) else []:
                found.setdefault(_normal(row.get(key.column)), []).append(str(row.get(self.table.primary_id)))
        ready: list[Pending] = []
        ambiguous: list[Outcome] = []
        for p in pending:
            ids = found.get(_normal(p.body.get(key.column)), []) if p.body.get(key.column) is not None else []
            if len(ids) > 1:
                ambiguous.append(refused(p.index, 409, f"{len(ids)} rows of {self.table.logical_name} have this "
                                         f"'{key.name}', so the record cannot be matched to one.",
                                         field_name=key.name))
                continue
            p.exists = bool(ids)
            p.id = ids[0] if ids else (p.id or str(uuid.uuid4()))
            ready.append(p)
        return ready, ambiguous


def _select(*columns: str) -> str:
    return ",".join(dict.fromkeys(columns))


def _normal(value: object) -> object:
    """Key values as Dataverse compares them: text without regard to case, GUIDs in lower case."""
    return value.casefold() if isinstance(value, str) else value


def _not_sent(index: int, problem: Problem) -> Outcome:
    detail = f"Not sent: an earlier part of this call failed ({problem.status_code}: {problem.detail})."
    return refused(index, problem.status_code, detail[:500], code=problem.code)
