"""`serviceendpoints`, `sdkmessages`, `sdkmessagefilters` and `sdkmessageprocessingsteps` over the
Web API: list (with `$filter`, `$select`, `$top`), retrieve, create, update and delete (the two
message tables are read-only). Registering needs a System Administrator or System Customizer: any
other principal gets Dataverse's missing-privilege error (prvCreateServiceEndpoint, …).
"""

from __future__ import annotations

import json
import re
import uuid

from django.http import HttpRequest, HttpResponse

from ..data import errors
from ..data.errors import DataverseError
from ..data.multiple import ACTIONS
from ..data.plugins import ADMIN_ROLES, PluginRegistry
from ..data.schema import REGISTRATION_TABLES, SERVICE_ENDPOINTS, Column, Table
from .multiple import NAMESPACE
from .records import json_response

_KEY = re.compile(r"^\(([0-9a-fA-F-]{36})\)$")
_BIND = re.compile(r"(?:^|/)([A-Za-z_]+)\(([0-9a-fA-F-]{36})\)$")
_SCHEMA_NAMES = {"serviceendpoint": "ServiceEndpoint", "sdkmessage": "SdkMessage",
                 "sdkmessagefilter": "SdkMessageFilter", "sdkmessageprocessingstep": "SdkMessageProcessingStep"}
_VERBS = {"POST": "prvCreate", "PATCH": "prvWrite", "DELETE": "prvDelete", "GET": "prvRead"}


def handle(request: HttpRequest, registry: PluginRegistry, member: dict, base: str, path: str) -> HttpResponse:
    name, _, rest = path.partition("(")
    entity_set, _, segment = name.rstrip("/").partition("/")
    table = REGISTRATION_TABLES[entity_set]
    if segment:
        # The bulk messages are enabled table by table; the registration tables have none of them.
        action = segment.removeprefix(NAMESPACE)
        if action in ACTIONS:
            raise errors.message_not_available(action, table.logical_name)
        raise errors.segment_not_found(segment[:100])
    key = _key(table, f"({rest}" if rest else "")
    method = request.method
    if method != "GET" and not ADMIN_ROLES & set(member.get("roles") or ()):
        raise _missing_privilege(member, method, table)
    if method != "GET" and table.read_only:
        raise DataverseError(405, errors.NOT_SUPPORTED, f"The '{table.logical_name}' entity is read-only here.")
    if key is None:
        if method == "GET":
            return _collection(request, registry, table, base)
        if method == "POST":
            return _create(request, registry, table, base)
    elif method == "GET":
        row = registry.get(table, key)
        if row is None:
            raise errors.not_found(table.logical_name, key)
        return json_response({"@odata.context": f"{base}/$metadata#{table.entity_set}/$entity",
                              **_shown(table, row, _select(request, table))})
    elif method == "PATCH":
        registry.update(table, key, _values(request, table))
        return HttpResponse(status=204)
    elif method == "DELETE":
        registry.delete(table, key)
        return HttpResponse(status=204)
    raise DataverseError(405, errors.QUERY_SYNTAX, f"The HTTP method '{method}' is not supported for this resource.")


def _key(table: Table, text: str) -> str | None:
    if not text:
        return None
    match = _KEY.match(text)
    if not match:
        raise errors.bad_query(f"Bad Request - Error in query syntax: '{text[:100]}' is not a key of "
                               f"{table.entity_set}.")
    return str(uuid.UUID(match.group(1)))


def _missing_privilege(member: dict, method: str, table: Table) -> DataverseError:
    privilege = f"{_VERBS.get(method, 'prvWrite')}{_SCHEMA_NAMES[table.logical_name]}"
    return DataverseError(403, errors.PRIVILEGE_DENIED, (
        f"Principal user (Id={member['systemuserid']}, type=8, roleCount={len(member.get('roles') or ())}, "
        f"privilegeCount=0, accessMode=0), is missing {privilege} privilege "
        f"(Id={uuid.uuid5(uuid.NAMESPACE_URL, privilege)}) on OTC={table.object_type_code} for entity "
        f"'{table.logical_name}'. context.Caller={member['systemuserid']}. Consider assigning a role with the "
        f"required access level to the user or team."))


def _select(request: HttpRequest, table: Table) -> list[str] | None:
    text = request.GET.get("$select")
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if table.column(name) is None:
            raise errors.unknown_property(name, table.odata_type)
    return names


def _shown(table: Table, row: dict, select: list[str] | None) -> dict:
    # authvalue is IsValidForRead=false: written, never read back.
    shown = {name: row.get(name) for name in (select or [c.name for c in table.columns])
             if not (table is SERVICE_ENDPOINTS and name == "authvalue")}
    for name, value in shown.items():  # SQLite keeps a Boolean column as 0/1; the Web API answers true/false
        column = table.column(name)
        if value is not None and column is not None and column.kind == "bool":
            shown[name] = bool(value)
    return shown


def _collection(request: HttpRequest, registry: PluginRegistry, table: Table, base: str) -> HttpResponse:
    unknown = set(request.GET) - {"$filter", "$select", "$top"}
    if unknown:
        raise errors.bad_query(f"The query parameter '{sorted(unknown)[0]}' is not supported by the sandbox here.")
    top = request.GET.get("$top")
    if top is not None and not (top.isascii() and top.isdigit() and len(top) <= 4 and 0 < int(top) <= 5000):
        raise errors.bad_query(f"Invalid value '{top[:20]}' for $top query option.")
    select = _select(request, table)
    rows = registry.query(table, request.GET.get("$filter"), int(top) if top else None)
    return json_response({"@odata.context": f"{base}/$metadata#{table.entity_set}",
                          "value": [_shown(table, row, select) for row in rows]})


def _create(request: HttpRequest, registry: PluginRegistry, table: Table, base: str) -> HttpResponse:
    key = registry.create(table, _values(request, table))
    entity_id = f"{base}/{table.entity_set}({key})"
    if "return=representation" in request.headers.get("Prefer", ""):
        return json_response({"@odata.context": f"{base}/$metadata#{table.entity_set}/$entity",
                              **_shown(table, registry.get(table, key), None)}, 201,
                             headers={"OData-EntityId": entity_id, "Location": entity_id})
    response = HttpResponse(status=204)
    response["OData-EntityId"] = entity_id
    response["OData-Version"] = "4.0"
    return response


def _values(request: HttpRequest, table: Table) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise errors.bad_query("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise errors.bad_query("The request body must be a JSON object.")
    values: dict = {}
    for prop, value in body.items():
        if prop.startswith("@odata."):
            continue
        if prop.endswith("@odata.bind"):
            column, target = _bind(table, prop.removesuffix("@odata.bind"), value)
            values[column.name] = target
            continue
        column = table.column(prop)
        if column is None or column.kind == "lookup":
            raise errors.unknown_property(prop, table.odata_type)
        if column.read_only:
            raise DataverseError(400, errors.INVALID_ARGUMENT, f"The '{prop}' attribute is read-only.")
        values[column.name] = _coerce(table, column, value)
    return values


def _bind(table: Table, nav: str, value: object) -> tuple[Column, str | None]:
    found = table.by_navigation.get(nav)
    if found is None:
        raise errors.unknown_property(nav, table.odata_type)
    column, target_set = found
    if value is None:
        return column, None
    match = _BIND.search(str(value))
    if not match or match.group(1) != target_set:
        raise errors.bad_query(f"The value of '{nav}@odata.bind' must be /{target_set}(<guid>).")
    return column, str(uuid.UUID(match.group(2)))


def _coerce(table: Table, column: Column, value: object) -> object:
    if value is None:
        return None
    if column.kind == "choice":
        if not isinstance(value, int) or isinstance(value, bool) or value not in column.choices:
            raise DataverseError(400, errors.INVALID_ARGUMENT, (
                f"{value!r} is not a valid value for the '{column.name}' attribute of '{table.logical_name}'."))
        return value
    if column.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise errors.bad_query(f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'.")
        return value
    if column.kind == "bool":
        if not isinstance(value, bool):
            raise errors.bad_query(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.")
        return int(value)
    if not isinstance(value, str):
        raise errors.bad_query(f"Cannot convert the literal '{value}' to the expected type 'Edm.String'.")
    if column.max_length and len(value) > column.max_length:
        raise DataverseError(400, "0x80044331", (
            f"A validation error occurred. The length of the '{column.name}' attribute of the "
            f"'{table.logical_name}' entity exceeded the maximum allowed length of '{column.max_length}'."))
    return value
