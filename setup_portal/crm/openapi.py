"""An OpenAPI 3.1 document of one instance's API, made from its environment's tables (tables.py).

A path per table (list, create, get, update, delete, bulk) under the name the API serves it by (the
friendly alias where there is one, else the entity set name); a schema per table with every field,
its type, length, range and choices, once as read and once as written; the list parameters; the
problem answers; bearer security (the instance token). Nothing here touches the database or the network.

Reference: https://spec.openapis.org/oas/v3.1.0
"""

from __future__ import annotations

import re

from .bulk import MAX_RECORDS, MODES
from .query import MAX_PAGE_SIZE
from .resources import RESOURCES, Field, Resource, number_range
from .tables import Catalogue

PROBLEM = {"$ref": "#/components/responses/Problem"}
# What every call may answer besides its own success: the token, the instance, limits, Dynamics CRM.
COMMON_ERRORS = ("401", "403", "409", "429", "502", "503", "504")
_NOT_NUL = "^[^\\u0000]*$"  # the API refuses NUL characters in text


def document(catalogue: Catalogue, server_url: str, *, title: str) -> dict:
    paths: dict = {}
    schemas: dict = {"Problem": _problem_schema()}
    aliases = {r.entity_set: name for name, r in RESOURCES.items()}
    for table in catalogue.tables:
        name = aliases.get(table.entity_set, table.entity_set)
        resource = catalogue.resource(name)
        key = _schema_name(name)
        schemas[key] = _record_schema(resource)
        if resource.writable:
            schemas[f"{key}Create"] = _write_schema(resource, creating=True)
            schemas[f"{key}Update"] = _write_schema(resource, creating=False)
        paths.update(_table_paths(name, key, resource, table.collection_name or name))
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1",
                 "description": "This instance's CRM API, generated from its environment's tables. "
                                "Authorize with the instance token."},
        "servers": [{"url": server_url}],
        "security": [{"instanceToken": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"instanceToken": {"type": "http", "scheme": "bearer",
                                                  "description": "The instance token (dci_…)."}},
            "schemas": schemas,
            "parameters": _list_parameters(),
            "responses": {"Problem": {"description": "Problem details (RFC 9457).",
                                      "content": {"application/problem+json": {
                                          "schema": {"$ref": "#/components/schemas/Problem"}}}}},
        },
    }


def _schema_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _errors(*statuses: str) -> dict:
    return {status: PROBLEM for status in (*statuses, *COMMON_ERRORS)}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _table_paths(name: str, key: str, resource: Resource, label: str) -> dict:
    tag = [name]
    record = _ref(key)
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    fields_param = {"$ref": "#/components/parameters/fields"}
    collection: dict = {"get": {
        "operationId": f"list_{key}", "tags": tag, "summary": f"List {label}",
        "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in ("where", "fields", "orderBy", "pageSize",
                                                                          "nextPage")],
        "responses": {"200": {"description": "A page of records.", "content": _json({
            "type": "object", "required": ["records", "nextPage"],
            "properties": {"records": {"type": "array", "items": record},
                           "nextPage": {"type": ["string", "null"]}}})}, **_errors("400", "404")}}}
    item: dict = {"parameters": [id_param], "get": {
        "operationId": f"get_{key}", "tags": tag, "summary": f"One record of {label}",
        "parameters": [fields_param],
        "responses": {"200": {"description": "The record.", "content": _json(record)}, **_errors("400", "404")}}}
    paths = {f"/{name}": collection, f"/{name}/{{id}}": item}
    if not resource.writable:
        return paths
    collection["post"] = {
        "operationId": f"create_{key}", "tags": tag, "summary": f"Create a record in {label}",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255}}],
        "requestBody": {"required": True, "content": _json(_ref(f"{key}Create"))},
        "responses": {"201": {"description": "Created.", "content": _json(record)},
                      **_errors("400", "404", "412", "415", "422")}}
    item["patch"] = {
        "operationId": f"update_{key}", "tags": tag, "summary": f"Change a record of {label}",
        "parameters": [fields_param, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": _json(_ref(f"{key}Update"))},
        "responses": {"200": {"description": "The record as changed.", "content": _json(record)},
                      **_errors("400", "404", "412", "415")}}
    item["delete"] = {
        "operationId": f"delete_{key}", "tags": tag, "summary": f"Delete a record of {label}",
        "parameters": [{"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
        "responses": {"204": {"description": "Deleted."}, **_errors("400", "404", "412")}}
    paths[f"/{name}/bulk"] = {"post": {
        "operationId": f"bulk_{key}", "tags": tag, "summary": f"Create or upsert up to {MAX_RECORDS:,} records",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255}}],
        "requestBody": {"required": True, "content": _json({
            "type": "object", "required": ["records"], "additionalProperties": False,
            # Each record is checked on its own and a bad one is refused in `results`, not with the call:
            # so the schema asks for objects and names the record schema rather than holding the call to it.
            "properties": {"records": {"type": "array", "minItems": 1, "maxItems": MAX_RECORDS, "items": {
                               "type": "object", "description": f"A record as POST /{name} takes it (schema "
                               f"{key}Create); one that breaks it is refused on its own, in results."}},
                           "mode": {"enum": list(MODES)},
                           "key": {"type": "string", "description": "upsert: the field records are matched by"}}})},
        "description": f"Records are checked one by one against {key}Create: a record that breaks it is "
                       "refused in `results` (status 400, the field named) and the others are written; a "
                       "call whose every record is refused is a 400.",
        "responses": {"200": {"description": "Each record's outcome, in the order sent.", "content": _json({
            "type": "object", "required": ["total", "succeeded", "failed", "results"],
            "properties": {"total": {"type": "integer"}, "succeeded": {"type": "integer"},
                           "failed": {"type": "integer"}, "results": {"type": "array", "items": {
                               "type": "object", "required": ["index", "status", "id"],
                               "properties": {"index": {"type": "integer"}, "status": {"type": "integer"},
                                              "id": {"type": ["string", "null"]},
                                              "problem": {"type": "object"}}}}}})},
                      **_errors("400", "404", "405", "415", "422")}}}
    return paths


def _record_schema(resource: Resource) -> dict:
    properties = {f.name: _field_schema(f, writing=False) for f in resource.fields}
    properties["_etag"] = {"type": "string", "description": "Send it back in If-Match to update only this version."}
    return {"type": "object", "properties": properties}


def _write_schema(resource: Resource, *, creating: bool) -> dict:
    fields = [f for f in resource.fields if not f.read_only and (creating or (f.name != "id" and not f.create_only))]
    properties = {f.name: _field_schema(f, writing=True) for f in fields}
    properties["_etag"] = {"description": "Ignored (a record sent back as it was read)."}
    schema: dict = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [f.name for f in fields if creating and f.required == "ApplicationRequired"]
    if required:
        schema["required"] = required
    return schema


def _field_schema(f: Field, *, writing: bool) -> dict:
    schema = _type_schema(f, writing=writing)
    if f.name != "id" or not writing:
        schema = _nullable(schema)
    words = [w for w in (f.label, f"column {f.attribute}" if f.attribute != f.name else "",
                         "read-only" if f.read_only else "", "set on create only" if f.create_only else "") if w]
    if f.choices:
        words.append("choices: " + ", ".join(f"{v} ({label})" if label else str(v) for v, label in f.choices))
    if words:
        schema["description"] = "; ".join(words)
    return schema


def _type_schema(f: Field, *, writing: bool) -> dict:
    if f.choices:
        values = {"type": "integer", "enum": [v for v, _ in f.choices]}
        labels = sorted({label for _, label in f.choices if label})
        return {"anyOf": [values, {"type": "string", "enum": labels}]} if writing and labels else values
    if f.type == "string":
        schema: dict = {"type": "string"}
        if f.max_length:
            schema["maxLength"] = f.max_length
        if writing:
            schema["pattern"] = _NOT_NUL
        return schema
    if f.type in ("int", "decimal"):
        low, high = number_range(f)
        return {"type": "integer" if f.type == "int" else "number", "minimum": low, "maximum": high}
    if f.type == "bool":
        return {"type": "boolean"}
    if f.type in ("datetime", "date"):
        return {"type": "string", "format": "date-time" if f.type == "datetime" else "date"}
    if f.type == "lookup" and writing and f.polymorphic:
        targets = sorted({f.target_name(t) for t in f.navigation.values()})
        return {"type": "object", "required": ["table", "id"], "additionalProperties": False,
                "properties": {"table": {"enum": targets}, "id": {"type": "string", "format": "uuid"}}}
    return {"type": "string", "format": "uuid"}


def _nullable(schema: dict) -> dict:
    if isinstance(schema.get("type"), str) and "enum" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _list_parameters() -> dict:
    def query(name: str, description: str, schema: dict | None = None) -> dict:
        return {"name": name, "in": "query", "description": description, "schema": schema or {"type": "string"}}
    return {
        "where": query("where", "A filter, e.g. name = 'Contoso' and revenue > 1000 (see the API's documentation "
                       "for the grammar)."),
        "fields": query("fields", "Comma-separated field names to return."),
        "orderBy": query("orderBy", "Comma-separated fields, each optionally followed by asc or desc."),
        "pageSize": query("pageSize", "Records per page.", {"type": "integer", "minimum": 1,
                                                            "maximum": MAX_PAGE_SIZE, "default": 50}),
        "nextPage": query("nextPage", "The cursor a previous page answered; sent alone."),
    }


def _problem_schema() -> dict:
    return {"type": "object", "required": ["type", "title", "status"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"}, "request_id": {"type": "string"},
        "code": {"type": "string"}, "fix": {"type": "string"}, "errors": {"type": "object"},
    }}
