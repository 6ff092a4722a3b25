"""`POST <table>/bulk`: a caller's records checked one by one before anything is sent.

`read_bulk()` reads the call (`{"records": [...], "mode": "create" | "upsert", "key": "id" | <field>}`),
`prepare()` converts each record by its fields' types (resources.to_dataverse). A record that
fails becomes that record's outcome (400, the field named) and the others go on, so one bad
record does not sink a CreateMultiple of 999 good ones. Nothing here touches the network.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .errors import QueryError, shorten
from .odata import to_odata
from .resources import Field, Resource, to_dataverse
from .where import In

MAX_RECORDS = 1000
MODES = ("create", "upsert")
# Types an upsert's key field may have: what Dataverse's alternate keys allow, less lookups and date-times.
KEY_TYPES = frozenset({"string", "int", "decimal", "date", "guid"})
BULK_KEYS = frozenset({"records", "mode", "key"})


@dataclass(frozen=True)
class BulkCall:
    mode: str
    key: Field | None  # upsert only: the field records are matched by (the table's id, or another)
    records: list


@dataclass
class Outcome:
    """What happened to one record of the call (`index` into the caller's list)."""

    index: int
    status: int = 0
    id: str | None = None
    problem: dict | None = None

    def as_json(self) -> dict:
        data: dict = {"index": self.index, "status": self.status, "id": self.id}
        if self.problem is not None:
            data["problem"] = self.problem
        return data


@dataclass
class Pending:
    """A record that passed the checks: its Dataverse body, and for an upsert its id and whether it exists."""

    index: int
    body: dict
    id: str | None = None
    exists: bool = False


@dataclass
class Plan:
    pending: list[Pending] = field(default_factory=list)
    refused: list[Outcome] = field(default_factory=list)
    unknown_names: bool = False  # a record named a field the table lacks: the metadata may be stale


def refused(index: int, status: int, detail: str, *, field_name: str | None = None, code: str = "") -> Outcome:
    problem: dict = {"status": status, "detail": detail}
    if field_name:
        problem["field"] = field_name
    if code:
        problem["code"] = code
    return Outcome(index, status, None, problem)


def read_bulk(body: object, resource: Resource) -> BulkCall:
    """The call's shape (a QueryError, param "body", for the whole call when it is wrong)."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise QueryError('The body must be {"records": [ {...}, ... ]} (and optionally "mode": "create" or '
                         '"upsert", and "key").', param="body", field="records")
    unknown = sorted(str(k) for k in set(body) - BULK_KEYS)
    if unknown:
        raise QueryError(f"Unknown member '{shorten(unknown[0])}'. A bulk body has records, mode and key.",
                         param="body", field=unknown[0][:40])
    records = body["records"]
    if not 1 <= len(records) <= MAX_RECORDS:
        raise QueryError(f"Send 1 to {MAX_RECORDS:,} records in one call (this one has {len(records):,}).",
                         param="body", field="records")
    shapeless = next((i for i, record in enumerate(records) if not isinstance(record, dict)), None)
    if shapeless is not None:  # not a record at all: the call is malformed, not one record of it
        raise QueryError(f"records[{shapeless}] is not an object: each record is {{\"field\": value, ...}}.",
                         param="body", field="records")
    mode = body.get("mode", "create")
    if mode not in MODES:
        raise QueryError(f"'mode' is 'create' or 'upsert', not '{shorten(str(mode))}'.", param="body", field="mode")
    if mode == "create":
        if "key" in body:
            raise QueryError("'key' goes with \"mode\": \"upsert\".", param="body", field="key")
        return BulkCall(mode, None, records)
    name = body.get("key", "id")
    key = resource.field(name) if isinstance(name, str) else None
    if key is None or key.type not in KEY_TYPES or (key.read_only and key.name != "id"):
        usable = [f.name for f in resource.fields if f.type in KEY_TYPES and not f.read_only]
        raise QueryError(f"'key' names the field records are matched by: id or a writable text, number, date or "
                         f"GUID field of {resource.name}, not '{shorten(str(name))}'.", param="body", field="key",
                         known=usable)
    return BulkCall(mode, key, records)


def prepare(call: BulkCall, resource: Resource) -> Plan:
    """Each record converted for Dataverse, or refused; for an upsert, each record's key value checked too."""
    plan = Plan()
    seen: dict[object, int] = {}
    for index, record in enumerate(call.records):
        try:
            body = to_dataverse(record, resource, creating=True)
        except QueryError as exc:
            if exc.known and exc.field and resource.field(exc.field) is None:
                plan.unknown_names = True
            plan.refused.append(refused(index, 400, exc.message, field_name=exc.field))
            continue
        pending = Pending(index, body)
        if call.key is not None:
            value = body.get(call.key.column)
            if value is None and call.key.name != "id":
                plan.refused.append(refused(index, 400, f"An upsert by '{call.key.name}' needs a value for it in "
                                            "every record.", field_name=call.key.name))
                continue
            # Dataverse compares text without regard to case: 'A-1' and 'a-1' are one key.
            marker = value.casefold() if isinstance(value, str) else value
            if value is not None and marker in seen:
                plan.refused.append(refused(index, 400, f"Record {seen[marker]} of this call has the same "
                                            f"'{call.key.name}'.", field_name=call.key.name))
                continue
            if value is not None:
                seen[marker] = index
            if call.key.name == "id":
                pending.id = value
        plan.pending.append(pending)
    return plan


def key_filters(key: Field, resource: Resource, values: list, *, size: int = 50) -> list[str]:
    """`$filter`s that find the existing rows with these key values, `size` values each (built as a
    `where` tree and written by the query layer, never pasted)."""
    typed = [_typed(key, v) for v in values]
    return [to_odata(In(key.name, tuple(typed[i:i + size])), resource) for i in range(0, len(typed), size)]


def _typed(key: Field, value: object):
    if key.type == "guid":
        return uuid.UUID(str(value))
    if key.type == "decimal":
        return Decimal(str(value))
    if key.type == "date":
        return date.fromisoformat(str(value))
    return value
