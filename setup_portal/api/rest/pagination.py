"""Cursor pagination for any sort order: the cursor is a signed, opaque value.

It holds where the next page starts within the list the same query parameters describe, and
is signed with the list's query, so a cursor is never pasted into SQL, cannot be forged, and a
cursor taken from one list is refused by another (422: any string is a cursor's shape, only the
list's own are cursors) instead of paging it from a random place.
"""

from __future__ import annotations

from django.core import signing
from django.db.models import QuerySet

from setup_portal.api.problems import Problem
from setup_portal.text import whole_number

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_SALT = "setup_portal.api.rest.cursor"


def _scope(request) -> str:
    """The query that defines the list: every parameter but the cursor itself."""
    params = sorted((k, v) for k, vs in request.query_params.lists() for v in vs if k != "cursor")
    return request.path + "?" + "&".join(f"{k}={v}" for k, v in params)


def page_size(request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    size = whole_number(raw)
    if size is None or not 1 <= size <= MAX_PAGE_SIZE:
        raise Problem(400, f"page_size is a whole number from 1 to {MAX_PAGE_SIZE}.", slug="validation",
                      errors={"page_size": [f"Send a whole number from 1 to {MAX_PAGE_SIZE}."]})
    return size


def _offset(request) -> int:
    raw = request.query_params.get("cursor")
    if raw is None:
        return 0
    try:
        scope, offset = signing.loads(raw, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        scope, offset = None, None
    if scope != _scope(request) or not isinstance(offset, int) or offset < 0:
        raise Problem(422, "This cursor is not one this list gave out (or the other query parameters changed).",
                      slug="validation", errors={"cursor": ["Use the next or previous URL of the list as given."]})
    return offset


def _link(request, offset: int) -> str:
    query = request.query_params.copy()
    if offset:
        query["cursor"] = signing.dumps([_scope(request), offset], salt=_SALT)
    else:
        query.pop("cursor", None)
    encoded = query.urlencode()
    return request.build_absolute_uri(request.path + (f"?{encoded}" if encoded else ""))


def paginate(request, rows: QuerySet) -> tuple[list, dict]:
    """One page of `rows` and its links: (objects, {"next": url|None, "previous": url|None})."""
    size, offset = page_size(request), _offset(request)
    objects = list(rows[offset:offset + size + 1])
    more = len(objects) > size
    links = {"next": _link(request, offset + size) if more else None,
             "previous": _link(request, max(offset - size, 0)) if offset else None}
    return objects[:size], links
