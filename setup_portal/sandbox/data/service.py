"""What the Web API does with rows, independent of HTTP: who may see and change which row,
queries with paging, single rows, create/update/upsert/delete with etags, change tracking
(the change generator used by demos and tests is data/changes.py).

References (Microsoft Learn, Dataverse developer guide):
- Query data: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/overview
- Create: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
- Update and delete: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api
- Conditional operations: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
- Change tracking: https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from . import errors, seed
from .errors import DataverseError
from .odata_filter import stamp
from .plugins import PluginRegistry
from .schema import NUMBER_KINDS, OPTIONAL, STRING_KINDS, TABLES, Column, Table
from .store import DataStore, now_stamp

ORGANIZATION_ROLES = frozenset({"System Administrator", "System Customizer"})
MAX_PAGE_SIZE = 5000
COUNT_LIMIT = 5000
MONEY_LIMIT = 922337203685477
OBJECT_TYPE_CODES = {t.logical_name: t.object_type_code for t in TABLES.values()}
# Required columns that get a value when the caller leaves them out (the caller owns the row, a
# new row is active), as in Dataverse.
DEFAULTED = frozenset({"_ownerid_value", "statecode", "statuscode"})
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
# Lookups that point outside the tables here: (target logical name, navigation property).
SYSTEM_LOOKUPS = {"_ownerid_value": ("systemuser", "ownerid"),
                  "_owningbusinessunit_value": ("businessunit", "owningbusinessunit"),
                  "_createdby_value": ("systemuser", "createdby"), "_modifiedby_value": ("systemuser", "modifiedby")}


@dataclass(frozen=True)
class Principal:
    """The systemuser a request acts as: a user or an application user."""

    id: str
    name: str
    roles: tuple[str, ...]
    business_unit: str

    @property
    def sees_everything(self) -> bool:
        return bool(ORGANIZATION_ROLES.intersection(self.roles))


class EnvironmentData:
    """An environment's data and the people in it."""

    def __init__(self, env, directory, data_dir):
        self.env = env
        self.business_unit = env.root_business_unit()["id"]
        self.users: dict[str, str] = {}
        for user in env.users:
            person = directory.user(user["upn"])
            self.users[user["systemuserid"]] = person.name if person else user["upn"]
        for app_user in env.application_users:
            app = directory.app(app_user["client_id"])
            self.users[app_user["systemuserid"]] = f"# {app.name}" if app else app_user["client_id"]
        self.business_units = {bu["id"]: bu["name"] for bu in env.business_units}
        spec = {"data": env.data, "owners": self._owners()}
        self.store = DataStore(data_dir / f"{env.name}.sqlite3", self._seed_rows, spec)
        self.plugins = PluginRegistry()

    def _owners(self) -> list[tuple[str, int]]:
        """Who owns seed rows, with weights: everyone with a role gets a share."""
        weights = self.env.data.get("owner_weights", {})
        owners = []
        for member in [*self.env.users, *self.env.application_users]:
            if member.get("roles"):
                key = member.get("upn") or member.get("client_id")
                owners.append((member["systemuserid"], int(weights.get(key, weights.get("*", 10)))))
        return owners

    def _seed_rows(self) -> dict[str, list[dict]]:
        return seed.generate(self.env.name, self._owners(), self.business_unit, self.env.data.get("rows", {}),
                             self.env.data.get("counts"))

    def principal(self, member: dict) -> Principal:
        return Principal(member["systemuserid"], self.users.get(member["systemuserid"], ""),
                         tuple(member.get("roles", ())), self.business_unit)


# --- access ----------------------------------------------------------------------------------
def check_row_access(principal: Principal, table: Table, row: dict, rights: str) -> None:
    """Users with a user-level role reach only the rows they own (Dataverse's SecLib check)."""
    if principal.sees_everything or row["_ownerid_value"] == principal.id:
        return
    raise DataverseError(403, errors.ACCESS_CHECK, (
        f"SecLib::AccessCheckEx failed. Returned hr = -2147187962, ObjectID: {row[table.primary_key]}, "
        f"OwnerId: {row['_ownerid_value']},  OwnerIdType: 8 and CallingUser: {principal.id}. ObjectTypeCode: "
        f"{OBJECT_TYPE_CODES[table.logical_name]}, objectBusinessUnitId: {principal.business_unit}, "
        f"AccessRights: {rights} "))


def missing_privilege(principal: Principal, privilege: str, table: Table) -> DataverseError:
    return DataverseError(403, errors.PRIVILEGE_DENIED, (
        f"Principal user (Id={principal.id}, type=8, roleCount={len(principal.roles)}, privilegeCount=0, "
        f"accessMode=0), is missing {privilege}{table.logical_name.capitalize()} privilege "
        f"(Id={uuid.uuid5(uuid.NAMESPACE_URL, privilege + table.logical_name)}) on OTC="
        f"{OBJECT_TYPE_CODES[table.logical_name]} for entity '{table.logical_name}'. "
        f"context.Caller={principal.id}. Consider assigning a role with the required access level to the user "
        f"or team."))


# --- reading ---------------------------------------------------------------------------------
@dataclass
class Page:
    rows: list[dict]
    more: bool
    count: int | None = None


def query(data: EnvironmentData, principal: Principal, table: Table, *, where: str, params: list, columns: list[str],
          order: list[tuple[Column, bool]], limit: int, after: str | None, offset: int,
          want_count: bool) -> Page:
    """One page of rows the principal may see. Without $orderby the page continues after the
    last key seen (like Dataverse's paging cookie); with $orderby it continues by position."""
    clauses, args = [], []
    if where:
        clauses.append(where)
        args += params
    if not principal.sees_everything:
        clauses.append('"_ownerid_value" = ?')
        args.append(principal.id)
    count = None
    if want_count:
        sql = f'SELECT count(*) FROM (SELECT 1 FROM "{table.entity_set}"'
        sql += f" WHERE {' AND '.join(clauses)}" if clauses else ""
        count = int(data.store.scalar(sql + f" LIMIT {COUNT_LIMIT})", args))
    key = f'"{table.primary_key}"'
    if after and not order:
        clauses.append(f"{key} > ?")
        args.append(after)
    sql = f'SELECT {", ".join(columns)} FROM "{table.entity_set}"'
    if clauses:
        sql += f" WHERE {' AND '.join(clauses)}"
    sorting = [f'"{c.name}"{" COLLATE NOCASE" if c.kind in STRING_KINDS else ""} {"DESC" if d else "ASC"}'
               for c, d in order]
    sql += " ORDER BY " + ", ".join([*sorting, f"{key} ASC"])
    sql += f" LIMIT {int(limit) + 1}"
    if offset and order:
        sql += f" OFFSET {int(offset)}"
    rows = data.store.select(sql, args)
    return Page(rows[:limit], len(rows) > limit, count)


def retrieve(data: EnvironmentData, principal: Principal, table: Table, key: str) -> dict:
    row = data.store.get(table, key)
    if row is None:
        raise errors.not_found(table.logical_name, key)
    check_row_access(principal, table, row, "ReadAccess")
    return row


def changes(data: EnvironmentData, table: Table, since: int, until: int) -> tuple[list[dict], list[str]]:
    """Rows created or changed in (since, until], by version, then the ids deleted in that range."""
    rows = data.store.select(f'SELECT * FROM "{table.entity_set}" WHERE "versionnumber" > ? AND "versionnumber" <= ? '
                             f'ORDER BY "versionnumber"', (since, until))
    return rows, data.store.deleted_since(table.source or table.entity_set, since, until)


# --- JSON ------------------------------------------------------------------------------------
def annotation_wanted(patterns: list[str], name: str) -> bool:
    for pattern in patterns:
        if pattern in {"*", name} or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
            return True
    return False


class Formatter:
    """Rows as Dataverse returns them, with the annotations the caller asked for."""

    def __init__(self, data: EnvironmentData, table: Table, columns: list[Column], annotations: list[str]):
        self.data = data
        self.table = table
        self.columns = columns
        self.formatted = annotation_wanted(annotations, FORMATTED)
        self.lookup_names = annotation_wanted(annotations, LOOKUP_NAME)
        self.navigation = annotation_wanted(annotations, NAVIGATION)
        self.plain = not (self.formatted or self.lookup_names or self.navigation)
        self.names: dict[str, str] = {}
        self._columns = [(c.name, c.kind == "bool") for c in columns]

    def prefetch(self, rows: list[dict]) -> None:
        """Names of looked-up rows, one query per target table (only when formatted values are wanted)."""
        if not self.formatted:
            return
        wanted: dict[str, set[str]] = {}
        for column in self.columns:
            if column.kind != "lookup" or column.name in SYSTEM_LOOKUPS:
                continue
            for row in rows:
                value = row[column.name]
                if value:
                    wanted.setdefault(self._target(column, row)[0], set()).add(value)
        for entity_set, keys in wanted.items():
            self.names.update(self.data.store.names(entity_set, keys))

    def _target(self, column: Column, row: dict) -> tuple[str, str]:
        """(target entity set or logical name, navigation property) of a lookup value."""
        if column.name in SYSTEM_LOOKUPS:
            return SYSTEM_LOOKUPS[column.name]
        if column.polymorphic:
            logical = row[column.type_column] or ""
            for prop, target in column.navigation.items():
                if TABLES[target].logical_name == logical:
                    return target, prop
        prop, target = next(iter(column.navigation.items()))
        return target, prop

    def row(self, row: dict) -> dict:
        out: dict = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
        if self.plain:  # the common case, kept lean: it runs for every row of every page
            for name, is_bool in self._columns:
                value = row[name]
                out[name] = bool(value) if is_bool and value is not None else value
            return out
        for column in self.columns:
            value = row[column.name]
            if value is not None and column.kind == "bool":
                value = bool(value)
            if value is not None:
                if self.formatted:
                    text = self._formatted(column, row, value)
                    if text is not None:
                        out[f"{column.name}@{FORMATTED}"] = text
                if column.kind == "lookup" and (self.lookup_names or self.navigation):
                    target, prop = self._target(column, row)
                    if self.navigation:
                        out[f"{column.name}@{NAVIGATION}"] = prop
                    if self.lookup_names:
                        out[f"{column.name}@{LOOKUP_NAME}"] = TABLES[target].logical_name if target in TABLES \
                            else target
            out[column.name] = value
        return out

    def _formatted(self, column: Column, row: dict, value: object) -> str | None:
        kind = column.kind
        if kind == "choice":
            return column.choices.get(int(value))
        if kind == "money":
            return f"${float(value):,.2f}"
        if kind == "decimal":
            return f"{float(value):,.2f}"
        if kind == "int":
            return f"{int(value):,}"
        if kind == "bool":
            return "Yes" if value else "No"
        if kind == "datetime":
            moment = datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ")
            hour = moment.hour % 12 or 12
            return (f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d} "
                    f"{'AM' if moment.hour < 12 else 'PM'}")
        if kind == "date":
            day = date.fromisoformat(str(value))
            return f"{day.month}/{day.day}/{day.year}"
        if kind == "lookup":
            if column.name == "_owningbusinessunit_value":
                return self.data.business_units.get(str(value))
            if column.name in SYSTEM_LOOKUPS:
                return self.data.users.get(str(value))
            return self.names.get(str(value))
        return None


# --- writing ---------------------------------------------------------------------------------
READ_ONLY_MESSAGE = "The property '{name}' cannot be set on '{type}': it is read-only{hint}."


def coerce(table: Table, column: Column, value: object) -> object:
    """A JSON value as stored; 400 in Dataverse's words when it does not fit the column."""
    kind = column.kind
    if value is None:
        if column.name == table.primary_key:
            raise _invalid(table, column, value)
        return None
    if kind in STRING_KINDS:
        if not isinstance(value, str):
            raise _invalid(table, column, value)
        if column.max_length and len(value) > column.max_length:
            raise DataverseError(400, "0x80044331", (
                f"A validation error occurred. The length of the '{column.name}' attribute of the "
                f"'{table.logical_name}' entity exceeded the maximum allowed length of '{column.max_length}'."))
        return value
    if kind in NUMBER_KINDS:
        # math.isfinite() of an int too big for a float raises OverflowError: only floats are asked.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise _invalid(table, column, value)
        if kind in {"int", "choice"}:
            if isinstance(value, float) and not value.is_integer():
                raise _invalid(table, column, value)
            value = int(value)
            if not -(2**31) <= value < 2**31:
                raise _invalid(table, column, value)
            if kind == "choice" and value not in column.choices:
                raise DataverseError(400, errors.INVALID_ARGUMENT, (
                    f"{value} is not a valid value for {column.name} on {table.logical_name}. Valid values: "
                    f"{', '.join(str(k) for k in column.choices)}."))
            return value
        if abs(value) > MONEY_LIMIT:
            raise _invalid(table, column, value)
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _invalid(table, column, value)
        return int(value)
    if kind == "guid":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise _invalid(table, column, value) from None
    if kind in {"datetime", "date"}:
        if not isinstance(value, str):
            raise _invalid(table, column, value)
        try:
            if kind == "date":
                return date.fromisoformat(value[:10]).isoformat()
            moment = datetime.fromisoformat(value)
            return stamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except (ValueError, OverflowError):
            raise _invalid(table, column, value) from None
    raise _invalid(table, column, value)  # pragma: no cover - every kind is handled above


def _invalid(table: Table, column: Column, value: object) -> DataverseError:
    shown = str(value)[:80]
    return DataverseError(400, errors.QUERY_SYNTAX, (
        f"Cannot convert the literal '{shown}' to the expected type '{column.edm_type}' of the property "
        f"'{column.name}' on type '{table.odata_type}'."))


def parse_bind(table: Table, prop: str, value: object, base: str) -> tuple[Column, str, str]:
    """`parentcustomerid_account@odata.bind: "/accounts(<guid>)"` -> (lookup column, target set, id)."""
    column, target = table.by_navigation[prop]
    if not isinstance(value, str):
        raise errors.bad_query(f"The value of '{prop}@odata.bind' must be a URL such as '/{target}(<guid>)'.")
    reference = value[len(base):] if value.startswith(base) else value
    reference = reference.lstrip("/")
    name, _, rest = reference.partition("(")
    if name != target or not rest.endswith(")"):
        raise errors.bad_query(f"The value '{value[:200]}' of '{prop}@odata.bind' must refer to /{target}(<guid>).")
    try:
        key = str(uuid.UUID(rest[:-1]))
    except ValueError:
        raise errors.bad_query(f"The value '{value[:200]}' of '{prop}@odata.bind' has no valid GUID key.") from None
    return column, target, key


def prepare(data: EnvironmentData, principal: Principal, table: Table, body: dict, base: str) -> dict:
    """Stored values for the columns a create or update body sets (no stamps yet)."""
    values: dict = {}
    for name, value in body.items():
        if name.endswith("@odata.bind"):
            prop = name[: -len("@odata.bind")]
            if prop not in table.by_navigation:
                raise errors.bad_query(f"An undeclared property '{prop}' which only has property annotations "
                                       f"in the payload but no property value was found in the payload. "
                                       f"'{table.logical_name}' has no navigation property '{prop}'.")
            if value is None:
                column = table.by_navigation[prop][0]
                values[column.name] = None
                if column.polymorphic:
                    values[column.type_column] = None
                continue
            column = table.by_navigation[prop][0]
            if column.read_only:
                raise errors.bad_query(READ_ONLY_MESSAGE.format(name=prop, type=table.odata_type, hint=""))
            column, target, key = parse_bind(table, prop, value, base)
            if target == "systemusers":
                if key not in data.users:
                    raise errors.not_found("systemuser", key)
                if key != principal.id and not principal.sees_everything:
                    raise missing_privilege(principal, "prvAssign", table)
            elif data.store.get(TABLES[target], key) is None:
                raise errors.not_found(TABLES[target].logical_name, key)
            values[column.name] = key
            if column.polymorphic:
                values[column.type_column] = TABLES[target].logical_name
            if table.logical_name == "annotation" and column.name == "_objectid_value":
                values["objecttypecode"] = TABLES[target].logical_name
            continue
        if name.startswith("@") or "@" in name:
            continue  # instance annotations such as @odata.etag sent back by clients
        column = table.column(name)
        if column is None:
            raise errors.bad_query(f"The property '{name}' does not exist on type '{table.odata_type}'. Make sure "
                                   f"to only use property names that are defined by the type.")
        if column.kind == "lookup":
            props = ", ".join(f"'{p}@odata.bind'" for p in column.navigation) or "none"
            raise errors.bad_query(f"The lookup property '{name}' cannot be set directly; use {props}.")
        if column.read_only:
            raise errors.bad_query(READ_ONLY_MESSAGE.format(name=name, type=table.odata_type, hint=""))
        values[name] = coerce(table, column, value)
    return values


def _settle(table: Table, values: dict, current: dict | None) -> None:
    """Derived columns: fullname from its parts; statuscode valid for statecode."""
    if "fullname" in table.by_name and ({"firstname", "lastname"} & values.keys() or current is None):
        first = values.get("firstname", current["firstname"] if current else None)
        last = values.get("lastname", current["lastname"] if current else None)
        values["fullname"] = " ".join(p for p in (first, last) if p) or None
    if not table.statuses:
        return
    state = values.get("statecode", current["statecode"] if current else 0)
    if state is None:
        state = 0
    values["statecode"] = state
    if "statuscode" not in values or values["statuscode"] is None:
        if current is None or "statecode" in values:
            values["statuscode"] = table.default_status(state)
    status = values.get("statuscode", current["statuscode"] if current else None)
    if status is not None and table.statuses[status].state != state:
        raise DataverseError(400, errors.INVALID_ARGUMENT, (
            f"{status} is not a valid status code for state code {table.logical_name}State.{state} on "
            f"{table.logical_name}."))


def check_required(table: Table, values: dict) -> None:
    """A new row has a value for every column whose RequiredLevel is not None (but see the
    sandbox README: Dataverse itself enforces only SystemRequired outside its forms)."""
    for column in table.columns:
        if column.required == OPTIONAL or column.name in DEFAULTED or column.read_only:
            continue
        if values.get(column.name) is None:
            shown = column.attribute
            raise DataverseError(400, errors.INVALID_ARGUMENT, (
                f"A value for the required attribute '{shown}' ({column.display_name}) of the "
                f"'{table.logical_name}' entity is missing: its RequiredLevel is {column.required}."))


def create(data: EnvironmentData, principal: Principal, table: Table, body: dict, base: str,
           key: str | None = None) -> dict:
    values = prepare(data, principal, table, body, base)
    key = key or values.get(table.primary_key) or str(uuid.uuid4())
    values[table.primary_key] = key
    _settle(table, values, None)
    check_required(table, values)
    if "activitytypecode" in table.by_name:
        values["activitytypecode"] = "task"
    stamp_now = now_stamp()
    values.setdefault("_ownerid_value", principal.id)
    values.update({"_owningbusinessunit_value": data.business_unit, "_createdby_value": principal.id,
                   "_modifiedby_value": principal.id, "createdon": stamp_now, "modifiedon": stamp_now})
    with data.store.writing() as conn:
        if data.store.get(table, key) is not None:
            raise DataverseError(412, errors.DUPLICATE_RECORD, "A record with matching key values already exists.")
        values["versionnumber"] = data.store.next_version(conn)
        data.store.insert(conn, table, values, principal.id)
    return data.store.get(table, key)


def update(data: EnvironmentData, principal: Principal, table: Table, key: str, body: dict, base: str,
           if_match: str | None) -> dict:
    values = prepare(data, principal, table, body, base)
    if values.get(table.primary_key, key) != key:
        raise errors.bad_query(f"The key in the body ({values[table.primary_key]}) does not match the URL ({key}).")
    values.pop(table.primary_key, None)
    check_required(table, {name: values.get(name, True) for name in table.by_name})
    with data.store.writing() as conn:
        current = _row_to_change(data, principal, table, key, if_match, "WriteAccess")
        if values.get("_ownerid_value", current["_ownerid_value"]) != current["_ownerid_value"] \
                and not principal.sees_everything:
            raise missing_privilege(principal, "prvAssign", table)
        _settle(table, values, current)
        values.update({"_modifiedby_value": principal.id, "modifiedon": now_stamp(),
                       "versionnumber": data.store.next_version(conn)})
        data.store.update(conn, table, key, values, principal.id)
    return data.store.get(table, key)


def delete(data: EnvironmentData, principal: Principal, table: Table, key: str, if_match: str | None) -> None:
    with data.store.writing() as conn:
        _row_to_change(data, principal, table, key, if_match, "DeleteAccess")
        data.store.delete(conn, table, key, principal.id)


def _row_to_change(data: EnvironmentData, principal: Principal, table: Table, key: str, if_match: str | None,
                   rights: str) -> dict:
    """The row an update or delete applies to: it exists, the principal may change it, and an
    `If-Match` etag (other than `*`) is still its current version."""
    current = data.store.get(table, key)
    if current is None:
        raise errors.not_found(table.logical_name, key)
    check_row_access(principal, table, current, rights)
    if if_match not in (None, "*") and if_match != f'W/"{current["versionnumber"]}"':
        raise DataverseError(412, errors.VERSION_MISMATCH,
                             "The version of the existing record doesn't match the RowVersion property provided.")
    return current
