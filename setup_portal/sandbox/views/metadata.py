"""The Web API's descriptions of itself: the service document, the CSDL $metadata document and
EntityDefinitions (tables, their Attributes, type casts and option sets).

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-service-documents
and https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse

from ..data import csdl, errors, metadata
from ..data.errors import DataverseError
from ..data.metadata import NS, Options
from ..data.schema import Table
from .records import json_response

# EntityDefinitions[(key)][/Attributes[(key)]][/Microsoft.Dynamics.CRM.<Type>]
PATH = re.compile(r"^EntityDefinitions(?:\((?P<table>[^)]*)\))?"
                  r"(?:/Attributes(?:\((?P<column>[^)]*)\))?(?:/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+))?)?/?$")


def service_document(base: str) -> HttpResponse:
    return json_response(csdl.service_document(base))


def metadata_document(request: HttpRequest) -> HttpResponse:
    annotations = request.GET.get("annotations") == "true"
    response = HttpResponse(csdl.document(annotations), content_type="application/xml")
    response["OData-Version"] = "4.0"
    return response


def entity_definitions(request: HttpRequest, base: str, path: str) -> HttpResponse:
    match = PATH.match(path)
    if match is None:
        raise errors.segment_not_found(path[:200])
    raw = _options(request)
    if match["table"] is None:
        if "/Attributes" in path:
            raise errors.bad_query("Bad Request - Error in query syntax: name a table before /Attributes.")
        return _tables(raw, base)
    table = metadata.find_table(match["table"])
    if table is None:
        raise DataverseError(404, "0x80040217", f"Could not find entity with key '{match['table']}'.")
    if "/Attributes" not in path:
        options = metadata.parse_options(raw, "EntityMetadata")
        body = _table(table, options)
        context = f"{base}/$metadata#EntityDefinitions{_selection(options)}/$entity"
        return json_response({"@odata.context": context, **body})
    return _attributes(table, match["column"], match["cast"], raw, base)


def _options(request: HttpRequest) -> dict[str, str]:
    raw: dict[str, str] = {}
    for name, values in request.GET.lists():
        if not name.startswith("$"):
            continue
        if len(values) > 1:
            raise errors.bad_query(f"Query option '{name}' was specified more than once, but it must be specified "
                                   "at most once.")
        raw[name] = values[0]
    return raw


def _tables(raw: dict[str, str], base: str) -> HttpResponse:
    options = metadata.parse_options(raw, "EntityMetadata")
    value = []
    for table in metadata.tables():
        if metadata.matches(options.filter, metadata.entity(table), "EntityMetadata"):
            value.append(_table(table, options))
    return json_response({"@odata.context": f"{base}/$metadata#EntityDefinitions{_selection(options)}",
                          "value": value})


def _table(table: Table, options: Options) -> dict:
    expanded = {}
    if options.expand and "Attributes" in options.expand:
        nested = options.expand["Attributes"]
        expanded["Attributes"] = [_column(table, c, nested) for c in table.columns
                                  if metadata.matches(nested.filter, metadata.attribute(table, c),
                                                      "AttributeMetadata")]
    return metadata.shape(metadata.entity(table), options, expanded)


def _attributes(table: Table, key: str | None, cast: str | None, raw: dict[str, str], base: str) -> HttpResponse:
    type_name = cast or "AttributeMetadata"
    if cast and cast not in metadata.SUBTYPES:
        raise errors.segment_not_found(f"{NS}.{cast}")
    options = metadata.parse_options(raw, type_name)
    columns = [c for c in table.columns if _is_a(metadata.attribute_type(c)[1], type_name)]
    where = f"{base}/$metadata#EntityDefinitions('{table.id}')/Attributes" + (f"/{NS}.{cast}" if cast else "")
    if key is not None:
        column = metadata.find_column(table, key)
        if column is None or column not in columns:
            raise DataverseError(404, "0x80040217", f"Could not find attribute with key '{key}' on entity "
                                                    f"'{table.logical_name}'.")
        return json_response({"@odata.context": f"{where}{_selection(options)}/$entity",
                              **_column(table, column, options)})
    value = [_column(table, c, options) for c in columns
             if metadata.matches(options.filter, metadata.attribute(table, c), type_name)]
    return json_response({"@odata.context": f"{where}{_selection(options)}", "value": value})


def _is_a(type_name: str, wanted: str) -> bool:
    while True:
        if type_name == wanted:
            return True
        if type_name not in metadata.SUBTYPES:
            return wanted == "AttributeMetadata"
        type_name = metadata.SUBTYPES[type_name][0]


def _column(table: Table, column, options: Options) -> dict:
    expanded = {}
    if options.expand and "OptionSet" in options.expand:
        nested = options.expand["OptionSet"]
        expanded["OptionSet"] = metadata.shape(metadata.option_set(table, column), nested)
    return metadata.shape(metadata.attribute(table, column), options, expanded)


def _selection(options: Options) -> str:
    parts = list(options.select or [])
    for name, nested in (options.expand or {}).items():
        parts.append(f"{name}({','.join(nested.select or [])})" if nested.select else name)
    return f"({','.join(parts)})" if parts else ""
