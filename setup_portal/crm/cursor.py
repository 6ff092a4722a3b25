"""`nextPage`: an opaque, signed cursor standing for Dataverse's `@odata.nextLink`.

Only the link's query options are kept (`$select`, `$filter`, `$orderby`, `$skiptoken`), never its
scheme, host or path: the next request is rebuilt against the instance's own checked Dynamics
URL and the resource's entity set, so even a cursor we signed cannot send a request elsewhere.
The cursor is signed with django.core.signing (salted, timestamped) and names the instance and
the resource it was issued for, so it cannot be edited, used on another instance or resource,
or used after an hour.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from django.core import signing

from .errors import QueryError
from .query import MAX_PAGE_SIZE
from .resources import Resource

SALT = "setup_portal.crm.cursor"
MAX_AGE = timedelta(hours=1)
# A paging cookie plus a long $filter fits easily; anything longer was not made here.
MAX_LENGTH = 8000
KEPT_OPTIONS = ("$select", "$filter", "$orderby", "$skiptoken")


@dataclass(frozen=True)
class NextPage:
    """What to ask the Web API for the next page: query options for `<entity set>` and the page size
    (the `odata.maxpagesize` preference, which Dataverse does not repeat in the link)."""

    params: dict[str, str]
    page_size: int

    @property
    def prefer(self) -> str:
        return f"odata.maxpagesize={self.page_size}"


def make_cursor(next_link: str, *, instance_id: object, resource: Resource, page_size: int) -> str:
    """The `nextPage` cursor for an `@odata.nextLink` that Dataverse returned for `resource`.

    ValueError when the link is not a next page of that entity set (Dataverse answered
    something unexpected: that is the portal's problem, not the caller's)."""
    parts = urlsplit(next_link)
    if parts.path.rstrip("/").rsplit("/", 1)[-1] != resource.entity_set:
        raise ValueError(f"the next link is not for {resource.entity_set}")
    params = {name: value for name, value in parse_qsl(parts.query, keep_blank_values=True) if name in KEPT_OPTIONS}
    if "$skiptoken" not in params:
        raise ValueError("the next link has no $skiptoken")
    payload = {"i": str(instance_id), "r": resource.name, "n": page_size, "q": params}
    return signing.dumps(payload, salt=SALT, compress=True)


def read_cursor(cursor: str, *, instance_id: object, resource: Resource, max_age: timedelta = MAX_AGE) -> NextPage:
    """The next page a cursor stands for; QueryError (param "nextPage") when it is expired, not one
    of ours, changed, or issued for another instance or resource."""
    invalid = QueryError("nextPage is not a cursor this API issued (it may have been cut or changed): list again "
                         "from the first page.", param="nextPage")
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_LENGTH:
        raise invalid
    try:
        payload = signing.loads(cursor, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise QueryError(f"nextPage has expired (cursors last {_words(max_age)}): list again from the first page.",
                         param="nextPage") from None
    except signing.BadSignature:
        raise invalid from None
    if not _well_formed(payload):
        raise invalid
    if payload["i"] != str(instance_id):
        raise QueryError("nextPage was issued for another instance.", param="nextPage")
    if payload["r"] != resource.name:
        raise QueryError(f"nextPage was issued for {payload['r']}, not {resource.name}.", param="nextPage")
    return NextPage(dict(payload["q"]), payload["n"])


def _well_formed(payload: object) -> bool:
    """Signed by us, so it should be; checked anyway, so a change of format can never raise elsewhere."""
    return (isinstance(payload, dict) and isinstance(payload.get("i"), str) and isinstance(payload.get("r"), str)
            and isinstance(payload.get("n"), int) and 1 <= payload["n"] <= MAX_PAGE_SIZE
            and isinstance(payload.get("q"), dict) and "$skiptoken" in payload["q"]
            and all(k in KEPT_OPTIONS and isinstance(v, str) for k, v in payload["q"].items()))


def _words(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
