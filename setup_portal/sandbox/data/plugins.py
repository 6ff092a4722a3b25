"""Plug-in registration for webhooks: an environment's service endpoints and the steps that send
an SDK message's execution context to one, and the execution context itself.

Following "Register a WebHook" and "Use WebHooks to create external handlers for server events"
(https://learn.microsoft.com/power-apps/developer/data-platform/register-web-hook,
https://learn.microsoft.com/power-apps/developer/data-platform/use-webhooks): a webhook is a
`serviceendpoint` with contract 8 (Webhook), its URL and authentication (authtype 4 WebhookKey:
`?code=<authvalue>`; 5 HttpHeader and 6 HttpQueryString: authvalue is
`<settings><setting name="…" value="…" /></settings>`); a `sdkmessageprocessingstep` names the
message (`sdkmessages`: Create, Update, Delete), the table (`sdkmessagefilters`, by
primaryobjecttypecode), stage 40 (post-operation), mode 1 (asynchronous) and the endpoint as its
event handler. After a committed change the matching steps' contexts go to plugin_dispatch.py.

Registrations live in memory (an SQLite `:memory:` database, so `$filter` is the data service's
own) and are forgotten by a reset or a restart.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from . import errors
from .errors import DataverseError
from .odata_filter import compile_filter
from .schema import (
    REGISTRATION_TABLES,
    SDK_MESSAGE_FILTERS,
    SDK_MESSAGE_PROCESSING_STEPS,
    SDK_MESSAGES,
    SERVICE_ENDPOINTS,
    SQL_TYPES,
    TABLES,
    Table,
)

MESSAGES = ("Create", "Update", "Delete")
OPS = {"create": "Create", "update": "Update", "delete": "Delete"}
WEBHOOK, WEBHOOK_KEY, HTTP_HEADER, HTTP_QUERY_STRING = 8, 4, 5, 6
POST_OPERATION, ASYNCHRONOUS = 40, 1
_NS = uuid.UUID("0b4c3a1e-9d2f-4c55-8e61-7f3a2b1c0d9e")
ADMIN_ROLES = {"System Administrator", "System Customizer"}


def message_id(name: str) -> str:
    return str(uuid.uuid5(_NS, f"sdkmessage:{name}"))


def filter_id(message: str, logical_name: str) -> str:
    return str(uuid.uuid5(_NS, f"sdkmessagefilter:{message}:{logical_name}"))


def parse_settings(authvalue: str) -> list[tuple[str, str]]:
    """`<settings><setting name="k" value="v" /></settings>` -> [(k, v)]; ValueError when malformed."""
    try:
        root = ET.fromstring(authvalue)
    except ET.ParseError as exc:
        raise ValueError(str(exc)) from None
    pairs = [(s.get("name") or "", s.get("value") or "") for s in root.iter("setting")]
    if root.tag != "settings" or not pairs or not all(name for name, _ in pairs):
        raise ValueError("expected <settings><setting name=\"…\" value=\"…\" /></settings>")
    return pairs


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PluginRegistry:
    """One environment's registrations. Safe from any thread (one lock, one in-memory database)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self._create()

    def _create(self) -> None:
        for table in REGISTRATION_TABLES.values():
            columns = ", ".join(f'"{c.name}" {SQL_TYPES[c.kind]}' for c in table.columns)
            self.db.execute(f'CREATE TABLE "{table.entity_set}" ({columns})')
        for name in MESSAGES:
            self.db.execute("INSERT INTO sdkmessages VALUES (?, ?)", (message_id(name), name))
            for table in TABLES.values():
                if table.read_only:
                    continue
                self.db.execute('INSERT INTO sdkmessagefilters VALUES (?, ?, ?, ?, ?, ?)',
                                (filter_id(name, table.logical_name), f"{name} of {table.logical_name}",
                                 table.logical_name, "none", 1, message_id(name)))
        self.db.commit()

    def reset(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM serviceendpoints")
            self.db.execute("DELETE FROM sdkmessageprocessingsteps")
            self.db.commit()

    # -- reading ----------------------------------------------------------------------------
    def query(self, table: Table, filter_text: str | None, top: int | None) -> list[dict]:
        where, params = compile_filter(filter_text, table) if filter_text else ("", [])
        sql = f'SELECT * FROM "{table.entity_set}"' + (f" WHERE {where}" if where else "")
        if top:
            sql += f" LIMIT {int(top)}"
        with self.lock:
            return [dict(r) for r in self.db.execute(sql, params)]

    def get(self, table: Table, key: str) -> dict | None:
        with self.lock:
            row = self.db.execute(f'SELECT * FROM "{table.entity_set}" WHERE "{table.primary_key}" = ?',
                                  (key,)).fetchone()
        return dict(row) if row else None

    def steps_for(self, logical_name: str, message: str) -> list[tuple[dict, dict]]:
        """Enabled asynchronous post-operation steps for a message on a table, with their endpoints."""
        with self.lock:
            rows = self.db.execute(
                "SELECT s.sdkmessageprocessingstepid AS step_id, s.name AS step_name, e.* "
                "FROM sdkmessageprocessingsteps s "
                "JOIN serviceendpoints e ON e.serviceendpointid = s._eventhandler_value "
                "LEFT JOIN sdkmessagefilters f ON f.sdkmessagefilterid = s._sdkmessagefilterid_value "
                "WHERE s._sdkmessageid_value = ? AND s.stage = ? AND s.mode = ? AND s.statecode = 0 "
                "AND (f.primaryobjecttypecode = ? OR s._sdkmessagefilterid_value IS NULL) ORDER BY s.rank",
                (message_id(message), POST_OPERATION, ASYNCHRONOUS, logical_name)).fetchall()
        return [({"id": r["step_id"], "name": r["step_name"]}, dict(r)) for r in rows]

    def count(self, entity_set: str) -> int:
        with self.lock:
            return self.db.execute(f'SELECT COUNT(*) FROM "{entity_set}"').fetchone()[0]

    # -- writing ----------------------------------------------------------------------------
    def create(self, table: Table, values: dict) -> str:
        key = values.get(table.primary_key) or str(uuid.uuid4())
        values = {**values, table.primary_key: key, "createdon": now_stamp(), "modifiedon": now_stamp()}
        if table is SERVICE_ENDPOINTS:
            self._check_endpoint(values)
        elif table is SDK_MESSAGE_PROCESSING_STEPS:
            values.setdefault("statecode", 0)
            values.setdefault("statuscode", 1 if values["statecode"] == 0 else 2)
            self._check_step(values)
        columns = list(values)
        with self.lock:
            if self.db.execute(f'SELECT 1 FROM "{table.entity_set}" WHERE "{table.primary_key}" = ?',
                               (key,)).fetchone():
                raise DataverseError(412, errors.DUPLICATE_RECORD, "A record with matching key values already exists.")
            names = ", ".join(f'"{c}"' for c in columns)
            self.db.execute(f'INSERT INTO "{table.entity_set}" ({names}) VALUES ({", ".join("?" * len(columns))})',
                            [values[c] for c in columns])
            self.db.commit()
        return key

    def update(self, table: Table, key: str, values: dict) -> None:
        current = self.get(table, key)
        if current is None:
            raise errors.not_found(table.logical_name, key)
        merged = {**current, **values, "modifiedon": now_stamp()}
        if table is SERVICE_ENDPOINTS:
            self._check_endpoint(merged)
        else:
            self._check_step(merged)
        changes = {name: merged[name] for name in (*values, "modifiedon")}
        with self.lock:
            assignments = ", ".join(f'"{c}" = ?' for c in changes)
            self.db.execute(f'UPDATE "{table.entity_set}" SET {assignments} WHERE "{table.primary_key}" = ?',
                            [*changes.values(), key])
            self.db.commit()

    def delete(self, table: Table, key: str) -> None:
        with self.lock:
            deleted = self.db.execute(f'DELETE FROM "{table.entity_set}" WHERE "{table.primary_key}" = ?',
                                      (key,)).rowcount
            if deleted and table is SERVICE_ENDPOINTS:
                self.db.execute("DELETE FROM sdkmessageprocessingsteps WHERE _eventhandler_value = ?", (key,))
            self.db.commit()
        if not deleted:
            raise errors.not_found(table.logical_name, key)

    def _check_endpoint(self, values: dict) -> None:
        _require(SERVICE_ENDPOINTS, values, ("name", "contract"))
        if values["contract"] != WEBHOOK:
            return
        if not values.get("url") or not str(values["url"]).lower().startswith(("http://", "https://")):
            raise errors.bad_query("A webhook service endpoint needs an absolute http or https url.")
        authtype, authvalue = values.get("authtype"), values.get("authvalue") or ""
        if authtype not in (WEBHOOK_KEY, HTTP_HEADER, HTTP_QUERY_STRING):
            raise errors.bad_query("A webhook's authtype must be 4 (WebhookKey), 5 (HttpHeader) or "
                                   "6 (HttpQueryString).")
        if not authvalue:
            raise errors.bad_query("A webhook service endpoint needs an authvalue.")
        if authtype != WEBHOOK_KEY:
            try:
                parse_settings(authvalue)
            except ValueError as exc:
                raise errors.bad_query(f"The authvalue is not valid for authtype {authtype}: {exc}") from None

    def _check_step(self, values: dict) -> None:
        _require(SDK_MESSAGE_PROCESSING_STEPS, values,
                 ("name", "stage", "mode", "rank", "_sdkmessageid_value", "_eventhandler_value"))
        if values["mode"] == ASYNCHRONOUS and values["stage"] != POST_OPERATION:
            raise errors.bad_query("Asynchronous steps must be registered in the post-operation stage (40).")
        with self.lock:
            message = self.db.execute("SELECT name FROM sdkmessages WHERE sdkmessageid = ?",
                                      (values["_sdkmessageid_value"],)).fetchone()
            handler = self.db.execute("SELECT 1 FROM serviceendpoints WHERE serviceendpointid = ?",
                                      (values["_eventhandler_value"],)).fetchone()
            found = self.db.execute("SELECT _sdkmessageid_value FROM sdkmessagefilters WHERE sdkmessagefilterid = ?",
                                    (values.get("_sdkmessagefilterid_value"),)).fetchone()
        if message is None:
            raise errors.not_found(SDK_MESSAGES.logical_name, values["_sdkmessageid_value"])
        if handler is None:
            raise errors.not_found(SERVICE_ENDPOINTS.logical_name, values["_eventhandler_value"])
        if values.get("_sdkmessagefilterid_value"):
            if found is None:
                raise errors.not_found(SDK_MESSAGE_FILTERS.logical_name, values["_sdkmessagefilterid_value"])
            if found[0] != values["_sdkmessageid_value"]:
                raise errors.bad_query("The SdkMessageFilter does not belong to the step's SdkMessage.")


def _require(table: Table, values: dict, names: tuple[str, ...]) -> None:
    for name in names:
        if values.get(name) in (None, ""):
            column = table.by_name[name]
            raise DataverseError(400, errors.INVALID_ARGUMENT, (
                f"A value for the attribute '{column.attribute}' of the '{table.logical_name}' entity is missing: "
                f"its RequiredLevel is {column.required}."))


# --- the execution context ----------------------------------------------------------------------
def _date(stamp: str) -> str:
    """WCF's JSON date, as RemoteExecutionContext serialises DateTime: /Date(<ms since epoch>)/."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)})/"


def _reference(logical_name: str, key: str) -> dict:
    return {"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts", "Id": key,
            "KeyAttributes": [], "LogicalName": logical_name, "Name": None, "RowVersion": None}


def _attributes(table: Table, row: dict) -> list[dict]:
    out = []
    for column in table.columns:
        value = row.get(column.name)
        if value is None:
            continue
        if column.kind == "lookup":
            target = TABLES.get(next(iter(column.navigation.values())))
            value = _reference(target.logical_name if target else column.attribute, value)
        elif column.kind == "datetime":
            value = _date(value)
        elif column.kind == "bool":
            value = bool(value)
        out.append({"key": column.attribute, "value": value})
    return out


def execution_context(env, business_unit: str, table: Table, op: str, key: str, version: int, by: str,
                      row: dict | None, step: dict, committed_at: str) -> dict:
    """A RemoteExecutionContext as Dataverse serialises it to JSON for a webhook (use-webhooks)."""
    message = OPS[op]
    if op == "delete" or row is None:
        target = _reference(table.logical_name, key)
    else:
        target = {"__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                  "Attributes": _attributes(table, row), "EntityState": None, "FormattedValues": [], "Id": key,
                  "KeyAttributes": [], "LogicalName": table.logical_name, "RelatedEntities": [],
                  "RowVersion": str(version)}
    return {
        "BusinessUnitId": business_unit, "CorrelationId": str(uuid.uuid4()), "Depth": 1, "InitiatingUserId": by,
        "InputParameters": [{"key": "Target", "value": target}], "IsExecutingOffline": False,
        "IsInTransaction": False, "IsOfflinePlayback": False, "IsolationMode": 1, "MessageName": message,
        "Mode": ASYNCHRONOUS, "OperationCreatedOn": _date(committed_at), "OperationId": str(uuid.uuid4()),
        "OrganizationId": env.organization_id, "OrganizationName": env.unique_name,
        "OutputParameters": [{"key": "id", "value": key}] if op == "create" else [],
        "OwningExtension": {"Id": step["id"], "KeyAttributes": [], "LogicalName": "sdkmessageprocessingstep",
                            "Name": step["name"], "RowVersion": None},
        "ParentContext": None, "PostEntityImages": [], "PreEntityImages": [], "PrimaryEntityId": key,
        "PrimaryEntityName": table.logical_name, "RequestId": None, "SecondaryEntityName": "none",
        "SharedVariables": [], "Stage": POST_OPERATION, "UserId": by,
    }
