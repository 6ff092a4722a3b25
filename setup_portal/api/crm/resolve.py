"""How `/<name>` finds what it serves.

A friendly resource (accounts, contacts, …) is first served from its hand-picked fields alone, which
needs no metadata: today's calls cost what they cost before. When a request names something those
fields do not have (a column such as `fax`, a choice by its label), or names any other table, the
instance's metadata answers (metadata.py, read on first use); a name the stored copy lacks makes
it read the metadata again, at most once a minute, before the 400 or 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from setup_portal.crm.errors import QueryError
from setup_portal.crm.resources import RESOURCES, Resource
from setup_portal.crm.tables import Catalogue, UnknownTable

from ..problems import Problem
from . import metadata

T = TypeVar("T")


def query_problem(exc: QueryError) -> Problem:
    extra = {"knownFields": exc.known} if exc.known else {}
    return Problem(400, exc.message, slug="invalid-query" if exc.param != "body" else "validation",
                   errors={exc.field or exc.param: [exc.message]}, extra=extra)


def _unknown_table(exc: UnknownTable) -> Problem:
    hint = f" Did you mean {' or '.join(exc.closest)}?" if exc.closest else ""
    return Problem(404, f"There is no table '{exc.name[:40]}' in this instance's environment.{hint} GET objects "
                   "lists them.", slug="unknown-resource", extra={"closest": exc.closest} if exc.closest else None)


def _attempt(catalogue: Catalogue, name: str, work: Callable[[Resource], T]) -> tuple[Resource, T]:
    resource = catalogue.resource(name)
    return resource, work(resource)


def resolve(request, instance, name: str, work: Callable[[Resource], T]) -> tuple[Resource, T]:
    """The resource `/<name>` serves and what `work` (parsing the request against it, no calls) made of
    the request; a Problem for an unknown table or a request the resource refuses."""
    static = RESOURCES.get(name)
    if static is not None:
        try:
            return static, work(static)
        except QueryError:
            pass  # the table's metadata may know the name, or the choice's label
    try:
        return _attempt(metadata.catalogue(request, instance), name, work)
    except UnknownTable as exc:
        first: Exception = exc
    except QueryError as exc:
        if not exc.known:  # a value the field refuses: the metadata would not change that
            raise query_problem(exc) from None
        first = exc
    fresh = metadata.refresh_for_unknown(request, instance)
    try:
        if fresh is None:
            raise first
        return _attempt(fresh, name, work)
    except UnknownTable as exc:
        raise _unknown_table(exc) from None
    except QueryError as exc:
        raise query_problem(exc) from None
