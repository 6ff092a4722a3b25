"""The bulk operation messages on one table: CreateMultiple, UpdateMultiple, UpsertMultiple.
Each runs in one transaction: any failing record rolls back every record of the request,
as on Dataverse's standard tables.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations
and the Web API reference of the CreateMultiple, UpdateMultiple and UpsertMultiple actions.
"""

from __future__ import annotations

import uuid

from . import errors, service
from .schema import Table
from .service import EnvironmentData, Principal

ACTIONS = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


def targets(table: Table, body: dict) -> list[dict]:
    """The `Targets` parameter: records of this table, each with its `@odata.type`."""
    records = body.get("Targets")
    if not isinstance(records, list) or not records:
        raise errors.bad_query("The parameter 'Targets' is missing or empty: send a list of records.")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise errors.bad_query(f"Targets[{index}] is not a record (a JSON object).")
        odata_type = record.get("@odata.type")
        if odata_type is None:
            raise errors.bad_query(f"Targets[{index}] has no '@odata.type': set it to "
                                   f"'Microsoft.Dynamics.CRM.{table.logical_name}' on every record.")
        if str(odata_type).lstrip("#") != table.odata_type.lstrip("#"):
            raise errors.bad_query(f"Targets[{index}] is of type '{odata_type}', but this action is bound to "
                                   f"'{table.odata_type.lstrip('#')}': all records must be of the same table.")
    return [{k: v for k, v in r.items() if k not in {"@odata.type", "@odata.id"}} for r in records]


def key_of(table: Table, record: dict, original: dict, base: str, index: int) -> str | None:
    """A record's id: its primary key column, or `@odata.id` such as `accounts(<guid>)`."""
    raw = record.get(table.primary_key)
    reference = original.get("@odata.id")
    if raw is None and isinstance(reference, str):
        tail = reference[len(base):] if reference.startswith(base) else reference
        name, _, rest = tail.lstrip("/").partition("(")
        if name != table.entity_set or not rest.endswith(")"):
            raise errors.bad_query(f"Targets[{index}] '@odata.id' must be {table.entity_set}(<guid>): the sandbox "
                                   "has no alternate keys.")
        raw = rest[:-1]
    if raw is None:
        return None
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise errors.bad_query(f"Targets[{index}] has no valid key: '{str(raw)[:60]}'.") from None


def create_multiple(data: EnvironmentData, principal: Principal, table: Table, body: dict, base: str) -> list[str]:
    records = targets(table, body)
    ids: list[str] = []
    with data.store.transaction():
        for record in records:
            ids.append(service.create(data, principal, table, record, base)[table.primary_key])
    return ids


def update_multiple(data: EnvironmentData, principal: Principal, table: Table, body: dict, base: str) -> None:
    originals = body.get("Targets") or []
    records = targets(table, body)
    with data.store.transaction():
        for index, record in enumerate(records):
            key = key_of(table, record, originals[index], base, index)
            if key is None:
                raise errors.bad_query(f"Targets[{index}] has no '{table.primary_key}': UpdateMultiple needs the "
                                       "id of every record.")
            record.pop(table.primary_key, None)
            service.update(data, principal, table, key, record, base, None)


def upsert_multiple(data: EnvironmentData, principal: Principal, table: Table, body: dict, base: str) -> None:
    """Creates the records whose id is unknown (or not given), updates the others."""
    originals = body.get("Targets") or []
    records = targets(table, body)
    with data.store.transaction():
        for index, record in enumerate(records):
            key = key_of(table, record, originals[index], base, index)
            record.pop(table.primary_key, None)
            if key is not None and data.store.get(table, key) is not None:
                service.update(data, principal, table, key, record, base, None)
            else:
                service.create(data, principal, table, record, base, key)


def refuse_read_only(table: Table, action: str) -> None:
    if table.read_only:
        raise errors.message_not_available(action, table.logical_name)
