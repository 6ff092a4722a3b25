"""The Web API's entity sets over HTTP: collections with query options and paging, single
rows by key, create, update/upsert and delete with etags, and change tracking.

Each function turns an HTTP request into calls to data/service.py and the answer into
Dataverse's JSON; every refusal is a DataverseError, answered by views/dataverse.py.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse

from ..data import errors, service
from ..data.errors import DataverseError
from ..data.odata_filter import compile_filter, compile_orderby
from ..data.options import (
    Cookie,
    make_deltatoken,
    make_skiptoken,
    page_size,
    parse_deltatoken,
    parse_prefer,
    parse_skiptoken,
)
from ..data.schema import TABLES, Column, Table
from ..data.service import EnvironmentData, Formatter, Principal

KNOWN_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken"}
UNSUPPORTED_OPTIONS = {"$expand", "$skip", "$apply", "$search", "$compute", "$format", "$levels", "$index"}
TRACKING_REFUSED = ("$filter", "$orderby", "$expand", "$top")
DEFAULT_PAGE = 5000


def json_response(data: dict, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(data, separators=(",", ":")), status=status,
                            content_type="application/json; odata.metadata=minimal")
    response["OData-Version"] = "4.0"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class Call:
    """One Web API request on an entity set: what it names and the options it carries."""

    def __init__(self, request: HttpRequest, data: EnvironmentData, principal: Principal, base: str, path: str):
        self.request = request
        self.data = data
        self.principal = principal
        self.base = base
        self.table, self.key, self.count_segment = _parse_path(path)
        self.prefer = parse_prefer(request.headers.get("Prefer", ""))
        self.options = self._options()
        self.annotations = [a.strip() for a in self.prefer.get("odata.include-annotations", "").split(",")
                            if a.strip()]
        self.applied: list[str] = []

    def _options(self) -> dict[str, str]:
        options: dict[str, str] = {}
        for name, values in self.request.GET.lists():
            if not name.startswith("$"):
                continue  # parameter aliases (@p1) and the like are not options
            if name in UNSUPPORTED_OPTIONS or name not in KNOWN_OPTIONS:
                raise errors.bad_query(f"The query parameter {name} is not supported.")
            if len(values) > 1:
                raise errors.bad_query(f"Query option '{name}' was specified more than once, but it must be "
                                       "specified at most once.")
            options[name] = values[0]
        return options

    # -- shared pieces -----------------------------------------------------------------
    def columns(self) -> list[Column]:
        """$select, validated; without it every column. The key always comes back."""
        raw = self.options.get("$select")
        if raw is None:
            return list(self.table.columns)
        names = [n.strip() for n in raw.split(",")]
        chosen: list[Column] = []
        for name in names:
            column = self.table.column(name)
            if column is None:
                raise errors.unknown_property(name, self.table.odata_type)
            if column not in chosen:
                chosen.append(column)
        key = self.table.by_name[self.table.primary_key]
        if key not in chosen:
            chosen.append(key)
        return chosen

    def context(self, columns: list[Column], suffix: str = "") -> str:
        selection = ""
        if "$select" in self.options:
            selection = "(" + ",".join(c.name for c in columns) + ")"
        return f"{self.base}/$metadata#{self.table.entity_set}{selection}{suffix}"

    def formatter(self, columns: list[Column]) -> Formatter:
        formatter = Formatter(self.data, self.table, columns, self.annotations)
        if self.annotations:
            self.applied.append(f'odata.include-annotations="{self.prefer["odata.include-annotations"]}"')
        return formatter

    def link(self, **replacing: str) -> str:
        """This request's URL with some options replaced (for nextLink and deltaLink)."""
        options = {k: v for k, v in self.options.items() if k not in {"$skiptoken", "$deltatoken"}}
        options.update(replacing)
        # Tokens are encoded whole, as Dataverse does; other options keep their readable characters.
        query = "&".join(f"{k}={quote(v, safe='' if k in {'$skiptoken', '$deltatoken'} else chr(39) + ',()$:@')}"
                         for k, v in options.items())
        return f"{self.base}/{self.table.entity_set}" + (f"?{query}" if query else "")

    def headers(self) -> dict[str, str]:
        return {"Preference-Applied": ", ".join(self.applied)} if self.applied else {}

    def body(self) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise errors.bad_query(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise errors.bad_query("The request body must be a JSON object.")
        return body

    def condition(self, header: str) -> str | None:
        value = self.request.headers.get(header)
        return value.strip() if value else None

    def representation(self, row, status: int) -> HttpResponse:
        columns = self.columns()
        formatter = self.formatter(columns)
        formatter.prefetch([row])
        self.applied.append("return=representation")
        body = {"@odata.context": self.context(columns, "/$entity"), **formatter.row(row)}
        return json_response(body, status, self.headers())

    def writable(self) -> None:
        if self.table.read_only:
            raise DataverseError(405, errors.NOT_SUPPORTED, (
                f"The entity '{self.table.logical_name}' is read-only in the sandbox: create, update and delete "
                f"go to the activity's own table (tasks)."))


def handle(request: HttpRequest, data: EnvironmentData, principal: Principal, base: str, path: str) -> HttpResponse:
    call = Call(request, data, principal, base, path)
    method = request.method
    if call.key is None:
        if method == "GET":
            return count_rows(call) if call.count_segment else collection(call)
        if method == "POST" and not call.count_segment:
            return create(call)
    elif method == "GET":
        return retrieve(call)
    elif method == "PATCH":
        return upsert(call)
    elif method == "DELETE":
        return delete(call)
    raise DataverseError(405, errors.QUERY_SYNTAX, f"The HTTP method '{method}' is not supported for this resource.")


def _parse_path(path: str) -> tuple[Table, str | None, bool]:
    """`accounts`, `accounts/$count`, `accounts(<guid>)` or `accounts(accountid=<guid>)`."""
    name, paren, rest = path.partition("(")
    count = False
    if not paren and name.endswith("/$count"):
        name, count = name[: -len("/$count")], True
    table = TABLES.get(name.rstrip("/"))
    if table is None:
        raise errors.segment_not_found(name.split('/')[0])
    if not paren:
        if "/" in name.rstrip("/"):
            raise errors.segment_not_found(name)
        return table, None, count
    inside, close, tail = rest.partition(")")
    if not close or tail.strip("/"):
        raise errors.bad_query("Bad Request - Error in query syntax. The sandbox supports only "
                               f"{table.entity_set}(<guid>) as a key.")
    raw = inside.split("=", 1)[1] if "=" in inside and inside.split("=", 1)[0] == table.primary_key else inside
    try:
        key = str(uuid.UUID(raw.strip()))
    except ValueError:
        raise errors.bad_query(f"Bad Request - Error in query syntax: '{inside[:100]}' is not a valid key of "
                               f"{table.entity_set}.") from None
    return table, key, False


def _refuse_user_level_tracking(call: Call) -> None:
    """Change tracking needs organization-level read on the table, as in Dataverse."""
    if not call.principal.sees_everything:
        raise service.missing_privilege(call.principal, "prvRead", call.table)


# --- collections ------------------------------------------------------------------------------
def collection(call: Call) -> HttpResponse:
    if "$deltatoken" in call.options:
        return delta(call)
    if "odata.track-changes" in call.prefer:
        return tracked_listing(call)
    table, options = call.table, call.options
    columns = call.columns()
    where, params = compile_filter(options["$filter"], table) if "$filter" in options else ("", [])
    order = compile_orderby(options["$orderby"], table) if "$orderby" in options else []
    want_count = _flag(options.get("$count"), "$count")
    size = page_size(call.prefer)
    top = _top(options.get("$top"))
    if size:
        call.applied.append(f"odata.maxpagesize={size}")
    limit = top if top is not None and not size else (size or DEFAULT_PAGE)
    cookie = parse_skiptoken(options["$skiptoken"], table.primary_key) if "$skiptoken" in options else Cookie(1)
    page = service.query(call.data, call.principal, table, where=where, params=params,
                         columns=_sql_columns(table, columns), order=order, limit=limit, after=cookie.last or None,
                         offset=(cookie.page - 1) * limit, want_count=want_count)
    formatter = call.formatter(columns)
    formatter.prefetch(page.rows)
    body: dict = {"@odata.context": call.context(columns)}
    if page.count is not None:
        body["@odata.count"] = page.count
        if service.annotation_wanted(call.annotations, "Microsoft.Dynamics.CRM.totalrecordcount"):
            body["@Microsoft.Dynamics.CRM.totalrecordcount"] = page.count
        if service.annotation_wanted(call.annotations, "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
            body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = page.count >= service.COUNT_LIMIT
    body["value"] = [formatter.row(r) for r in page.rows]
    if page.more and (top is None or size):
        key = table.primary_key
        following = Cookie(cookie.page + 1, page.rows[-1][key], page.rows[0][key])
        body["@odata.nextLink"] = call.link(**{"$skiptoken": make_skiptoken(following, key)})
    return json_response(body, headers=call.headers())


def count_rows(call: Call) -> HttpResponse:
    """`accounts/$count`: a plain number (up to 5,000), or the number of changes after a delta token."""
    if "$deltatoken" in call.options:
        _refuse_user_level_tracking(call)
        store = call.data.store
        since = parse_deltatoken(call.options["$deltatoken"], current=store.version, floor=store.floor)
        rows, deleted = service.changes(call.data, call.table, since, store.version)
        number = len(rows) + len(deleted)
    else:
        page = service.query(call.data, call.principal, call.table, where="", params=[], columns=["1"], order=[],
                             limit=1, after=None, offset=0, want_count=True)
        number = page.count or 0
    response = HttpResponse(str(number), content_type="text/plain")
    response["OData-Version"] = "4.0"
    return response


def tracked_listing(call: Call) -> HttpResponse:
    """The first change-tracking request: every row, paged, and a delta link on the last page."""
    _refuse_tracking_options(call)
    _refuse_user_level_tracking(call)
    table = call.table
    columns = call.columns()
    size = page_size(call.prefer) or DEFAULT_PAGE
    cookie = (parse_skiptoken(call.options["$skiptoken"], table.primary_key) if "$skiptoken" in call.options
              else Cookie(1, version=call.data.store.version, tracking=True))
    snapshot = cookie.version or call.data.store.version
    page = service.query(call.data, call.principal, table, where="", params=[], columns=_sql_columns(table, columns),
                         order=[], limit=size, after=cookie.last or None, offset=0, want_count=False)
    call.applied.append("odata.track-changes")
    if "odata.maxpagesize" in call.prefer:
        call.applied.append(f"odata.maxpagesize={size}")
    formatter = call.formatter(columns)
    formatter.prefetch(page.rows)
    body: dict = {"@odata.context": call.context(columns), "value": [formatter.row(r) for r in page.rows]}
    if page.more:
        key = table.primary_key
        following = Cookie(cookie.page + 1, page.rows[-1][key], page.rows[0][key], snapshot, True)
        body["@odata.nextLink"] = call.link(**{"$skiptoken": make_skiptoken(following, key)})
    else:
        body["@odata.deltaLink"] = call.link(**{"$deltatoken": make_deltatoken(snapshot)})
    return json_response(body, headers=call.headers())


def delta(call: Call) -> HttpResponse:
    """Following a delta link: rows created or changed since, then `$deletedEntity` entries."""
    _refuse_tracking_options(call)
    _refuse_user_level_tracking(call)
    table, store = call.table, call.data.store
    since = parse_deltatoken(call.options["$deltatoken"], current=store.version, floor=store.floor)
    size = page_size(call.prefer) or DEFAULT_PAGE
    cookie = parse_skiptoken(call.options["$skiptoken"], table.primary_key) if "$skiptoken" in call.options \
        else Cookie(1, version=store.version, tracking=True)
    until = cookie.version or store.version
    rows, deleted = service.changes(call.data, table, since, until)
    entries: list = [*rows, *deleted]
    start = (cookie.page - 1) * size
    chunk = entries[start:start + size]
    columns = call.columns()
    formatter = call.formatter(columns)
    formatter.prefetch([e for e in chunk if not isinstance(e, str)])
    value = []
    for entry in chunk:
        if isinstance(entry, str):
            value.append({"@odata.context": f"{call.base}/$metadata#{table.entity_set}/$deletedEntity",
                          "id": entry, "reason": "deleted"})
        else:
            value.append(formatter.row(entry))
    if "odata.maxpagesize" in call.prefer:
        call.applied.append(f"odata.maxpagesize={size}")
    body: dict = {"@odata.context": call.context(columns, "/$delta"), "value": value}
    if start + size < len(entries):
        following = Cookie(cookie.page + 1, version=until, tracking=True)
        body["@odata.nextLink"] = call.link(**{"$deltatoken": call.options["$deltatoken"],
                                               "$skiptoken": make_skiptoken(following, table.primary_key)})
    else:
        body["@odata.deltaLink"] = call.link(**{"$deltatoken": make_deltatoken(until)})
    return json_response(body, headers=call.headers())


def _refuse_tracking_options(call: Call) -> None:
    for name in TRACKING_REFUSED:
        if name in call.options:
            raise errors.bad_query(f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.')


def _sql_columns(table: Table, columns: list[Column]) -> list[str]:
    """What to read for these output columns: the row version and lookup types come along."""
    names = {f'"{c.name}"' for c in columns} | {'"versionnumber"', '"_ownerid_value"'}
    names |= {f'"{c.type_column}"' for c in columns if c.polymorphic}
    return sorted(names)


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise errors.bad_query(f"'{raw}' is not a valid value for {name}: use true or false.")


def _top(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 0 < int(raw) <= service.MAX_PAGE_SIZE:
        raise errors.bad_query(f"Invalid value '{raw[:50]}' for $top query option: use a number from 1 to 5000.")
    return int(raw)


# --- single rows ------------------------------------------------------------------------------
def retrieve(call: Call) -> HttpResponse:
    row = service.retrieve(call.data, call.principal, call.table, call.key)
    columns = call.columns()
    etag = f'W/"{row["versionnumber"]}"'
    # Conditional retrieval: unchanged rows answer 304, except when annotations are asked for.
    if call.condition("If-None-Match") == etag and not call.annotations:
        response = HttpResponse(status=304)
        response["OData-Version"] = "4.0"
        return response
    formatter = call.formatter(columns)
    formatter.prefetch([row])
    body = {"@odata.context": call.context(columns, "/$entity"), **formatter.row(row)}
    return json_response(body, headers=call.headers())


def create(call: Call) -> HttpResponse:
    call.writable()
    row = service.create(call.data, call.principal, call.table, call.body(), call.base)
    return _written(call, row, created=True)


def upsert(call: Call) -> HttpResponse:
    """PATCH updates; without If-Match it creates a missing row (upsert). `If-Match: *` prevents
    the create, `If-None-Match: *` prevents the update, `If-Match: <etag>` guards against a stale copy."""
    call.writable()
    if_match, if_none_match = call.condition("If-Match"), call.condition("If-None-Match")
    body = call.body()
    exists = call.data.store.get(call.table, call.key) is not None
    if if_none_match == "*":
        if exists:
            raise DataverseError(412, errors.DUPLICATE_RECORD, "A record with matching key values already exists.")
        return _written(call, service.create(call.data, call.principal, call.table, body, call.base, call.key), True)
    if not exists and if_match is None:
        return _written(call, service.create(call.data, call.principal, call.table, body, call.base, call.key), True)
    row = service.update(call.data, call.principal, call.table, call.key, body, call.base, if_match)
    return _written(call, row, created=False)


def _written(call: Call, row, created: bool) -> HttpResponse:
    if call.prefer.get("return") == "representation":
        return call.representation(row, 201 if created else 200)
    response = HttpResponse(status=204)
    response["OData-Version"] = "4.0"
    response["OData-EntityId"] = f"{call.base}/{call.table.entity_set}({row[call.table.primary_key]})"
    return response


def delete(call: Call) -> HttpResponse:
    call.writable()
    service.delete(call.data, call.principal, call.table, call.key, call.condition("If-Match"))
    response = HttpResponse(status=204)
    response["OData-Version"] = "4.0"
    return response
