"""The list options of the instance API: `where` (parsed by where.py, written as `$filter` by
odata.py), `fields`, `orderBy`, `pageSize`; `ListQuery` is a whole list request ready for the Web API.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-data-web-api
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import QueryError, shorten
from .odata import to_odata
from .resources import Field, Resource, known_names
from .where import Node, parse_where

MAX_ORDER_TERMS = 5
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def parse_fields(text: str, resource: Resource) -> tuple[Field, ...]:
    """`name, city` -> the fields, key first; QueryError (param "fields") for unknown names."""
    names = [n.strip() for n in text.split(",")] if isinstance(text, str) and text.strip() else []
    if not names:
        raise QueryError("fields is empty: leave it out to get every field.", param="fields")
    chosen: list[Field] = [resource.field("id")]
    for name in names:
        f = resource.field(name)
        if f is None:
            known = resource.field_names
            raise QueryError(f"Unknown field '{shorten(name)}' in fields. "
                             f"{known_names(name, known, f'{resource.name} have')}", param="fields", field=name,
                             known=known)
        if f not in chosen:
            chosen.append(f)
    return tuple(chosen)


def select_option(resource: Resource, fields: tuple[Field, ...] | None = None) -> str:
    """`$select` for the chosen fields, or for every field of the resource (never "all columns")."""
    return ",".join(f.column for f in (fields or resource.fields[:resource.defaults or None]))


def parse_order_by(text: str, resource: Resource) -> tuple[tuple[Field, bool], ...]:
    """`name desc, createdOn` -> ((name, descending=True), (createdOn, False))."""
    terms = [t.split() for t in text.split(",")] if isinstance(text, str) and text.strip() else []
    if not terms:
        raise QueryError("orderBy is empty: leave it out for Dataverse's order.", param="orderBy")
    if len(terms) > MAX_ORDER_TERMS:
        raise QueryError(f"orderBy takes at most {MAX_ORDER_TERMS} fields.", param="orderBy")
    order: list[tuple[Field, bool]] = []
    for words in terms:
        if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].lower() not in {"asc", "desc"}):
            raise QueryError(f"'{shorten(' '.join(words))}' in orderBy is not 'field', 'field asc' or 'field desc'.",
                             param="orderBy")
        f = resource.field(words[0])
        if f is None or not f.sortable:
            known = resource.sortable_names
            what = "Unknown field" if f is None else "Records cannot be sorted by"
            raise QueryError(f"{what} '{shorten(words[0])}' in orderBy. "
                             f"{known_names(words[0], known, f'{resource.name} can be sorted by')}", param="orderBy",
                             field=words[0], known=known)
        if any(f == seen for seen, _ in order):
            raise QueryError(f"'{f.name}' appears twice in orderBy.", param="orderBy", field=f.name)
        order.append((f, len(words) == 2 and words[1].lower() == "desc"))
    return tuple(order)


def parse_page_size(text: str | int | None) -> int:
    if text is None:
        return DEFAULT_PAGE_SIZE
    raw = str(text).strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_PAGE_SIZE):
        raise QueryError(f"pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}.", param="pageSize")
    return int(raw)


@dataclass(frozen=True)
class ListQuery:
    """A list request ready for the Web API: `params` are its query options, `prefer` its Prefer header."""

    resource: Resource
    where: Node | None
    fields: tuple[Field, ...] | None
    order: tuple[tuple[Field, bool], ...]
    page_size: int

    @property
    def params(self) -> dict[str, str]:
        params = {"$select": select_option(self.resource, self.fields)}
        if self.where is not None:
            params["$filter"] = to_odata(self.where, self.resource)
        if self.order:
            params["$orderby"] = ",".join(f"{f.column} {'desc' if d else 'asc'}" for f, d in self.order)
        return params

    @property
    def prefer(self) -> str:
        return f"odata.maxpagesize={self.page_size}"


def build_list_query(resource: Resource, *, where: str | None = None, fields: str | None = None,
                     order_by: str | None = None, page_size: str | int | None = None) -> ListQuery:
    """All list options of a request (None = not given); the first mistake raises QueryError."""
    return ListQuery(
        resource=resource,
        where=parse_where(where, resource) if where is not None else None,
        fields=parse_fields(fields, resource) if fields is not None else None,
        order=parse_order_by(order_by, resource) if order_by is not None else (),
        page_size=parse_page_size(page_size),
    )
