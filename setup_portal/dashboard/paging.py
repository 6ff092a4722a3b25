"""The dashboard's pages: keyset pagination, so page 1,000 costs what page 1 costs.

Next and Previous links carry a signed cursor: the sort key and id of the row the page
continues from, and the page's number (for display). The query asks for the rows after
(or before) that row in the list's order, which an index answers without reading the pages
in between, where OFFSET would read them all. `?page=N` still works for the first
MAX_NUMBERED_PAGE pages. A cursor is signed, so it never reaches SQL unchecked, and it names
its sort: one taken from another sort order is refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.core import signing
from django.db.models import F, Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from setup_portal.text import whole_number

from .filters import NULLABLE_SORTS, SORTS

PAGE_SIZE = 50
MAX_NUMBERED_PAGE = 20
_SALT = "setup_portal.instances.paging"  # as before the move: cursors in links already shared stay valid
# How each sort field's value travels in a cursor (JSON): back from text to what the column holds.
_DATES = {"secret_expires_on"}
_MOMENTS = {"created_at", "health_checked_at", "access_token_expires_at"}


class BadPage(ValueError):
    """A page or cursor that cannot be honoured; the message says why in plain words."""


@dataclass
class Page:
    object_list: list
    number: int
    has_previous: bool
    has_next: bool
    # Where Next and Previous lead: a page number for the first MAX_NUMBERED_PAGE pages, else a
    # cursor (None drops the parameter from the link).
    next_page: int | None = None
    next_cursor: str | None = None
    previous_page: int | None = None
    previous_cursor: str | None = None
    total: int | None = None  # None: not counted
    capped: bool = False  # total is "more than"
    extra: dict = field(default_factory=dict)

    @property
    def start_index(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1 if self.object_list else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * PAGE_SIZE + len(self.object_list)

    @property
    def num_pages(self) -> int | None:
        if self.total is None or self.capped:
            return None
        return max(1, -(-self.total // PAGE_SIZE))


@dataclass(frozen=True)
class Cursor:
    sort: str
    value: object
    pk: uuid.UUID
    page: int
    forward: bool  # True: the rows after `value, pk`; False: the rows before it


def _encode(value) -> object:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _decode(column: str, raw):
    if raw is None:
        return None
    if column in _MOMENTS:
        value = parse_datetime(raw) if isinstance(raw, str) else None
    elif column in _DATES:
        value = parse_date(raw) if isinstance(raw, str) else None
    elif column == "api_calls_24h":
        value = raw if isinstance(raw, int) else None
    else:
        value = raw if isinstance(raw, str) else None
    if value is None:
        raise BadPage("This page link is damaged; start again from the first page.")
    return value


def _row_value(row, column: str):
    value = row
    for part in column.split("__"):
        value = getattr(value, part)
    return value


def make_cursor(row, sort: str, page: int, *, forward: bool) -> str:
    column = SORTS[sort.lstrip("-")]
    return signing.dumps({"s": sort, "v": _encode(_row_value(row, column)), "i": str(row.pk), "p": page,
                          "f": forward}, salt=_SALT, compress=True)


def read_cursor(raw: str, sort: str) -> Cursor:
    try:
        data = signing.loads(raw, salt=_SALT)
        cursor = Cursor(data["s"], data["v"], uuid.UUID(data["i"]), int(data["p"]), bool(data["f"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadPage("This page link is damaged; start again from the first page.") from None
    if cursor.sort != sort:
        raise BadPage("This page link belongs to another sort order; start again from the first page.")
    if cursor.page < 1:
        raise BadPage("This page link is damaged; start again from the first page.")
    return Cursor(cursor.sort, _decode(SORTS[sort.lstrip("-")], cursor.value), cursor.pk, cursor.page,
                  cursor.forward)


def _beyond(column: str, descending: bool, value, pk) -> Q:
    """The rows that come after (`value`, `pk`) in the order (column asc/desc, nulls last; id the same way)."""
    later = "lt" if descending else "gt"
    if value is None:  # already among the empty values, which come last
        return Q(**{f"{column}__isnull": True, f"pk__{later}": pk})
    after = Q(**{f"{column}__{later}": value}) | Q(**{column: value, f"pk__{later}": pk})
    if column in NULLABLE_SORTS:
        return after | Q(**{f"{column}__isnull": True})
    # The same condition plus a plain range on the column, which the database reads from its index.
    return Q(**{f"{column}__{later}e": value}) & after


def _before(column: str, descending: bool, value, pk) -> Q:
    """The rows that come before (`value`, `pk`) in that order."""
    earlier = "gt" if descending else "lt"
    if value is None:
        return Q(**{f"{column}__isnull": False}) | Q(**{f"{column}__isnull": True, f"pk__{earlier}": pk})
    before = Q(**{f"{column}__{earlier}": value}) | Q(**{column: value, f"pk__{earlier}": pk})
    if column in NULLABLE_SORTS:
        return before
    return Q(**{f"{column}__{earlier}e": value}) & before


def _reversed_order(column: str, descending: bool) -> list:
    """The list's order backwards (empty values first), to read the rows before a cursor."""
    if column in NULLABLE_SORTS:
        first = F(column).asc(nulls_first=True) if descending else F(column).desc(nulls_first=True)
    else:
        first = F(column).asc() if descending else F(column).desc()
    return [first, F("pk").asc() if descending else F("pk").desc()]


def get_page(rows: QuerySet, sort: str, *, page_number: str | None, cursor: str | None) -> Page:
    """One page of `rows` (already sorted by `sort`, id last): numbered, or from a cursor."""
    column, descending = SORTS[sort.lstrip("-")], sort.startswith("-")
    if cursor:
        at = read_cursor(cursor, sort)
        if at.forward:
            objects = list(rows.filter(_beyond(column, descending, at.value, at.pk))[:PAGE_SIZE + 1])
            return _page(objects, sort, at.page, has_previous=True)
        objects = list(rows.filter(_before(column, descending, at.value, at.pk))
                       .order_by(*_reversed_order(column, descending))[:PAGE_SIZE + 1])
        if len(objects) <= PAGE_SIZE:  # back at the start: the first page, in full
            return _page(list(rows[:PAGE_SIZE + 1]), sort, 1, has_previous=False)
        return _page(objects[:PAGE_SIZE][::-1], sort, max(at.page, 2), has_previous=True, has_next=True)
    number = _number(page_number)
    start = (number - 1) * PAGE_SIZE
    objects = list(rows[start:start + PAGE_SIZE + 1])
    return _page(objects, sort, number, has_previous=number > 1)


def _number(raw: str | None) -> int:
    if raw in (None, ""):
        return 1
    number = whole_number(raw)
    if number is None or number < 1:
        raise BadPage("A page number is a whole number from 1.")
    if number > MAX_NUMBERED_PAGE:
        raise BadPage(f"Pages after {MAX_NUMBERED_PAGE} are reached with Next and Previous "
                      "(or narrow the list with a filter).")
    return number


def _page(objects: list, sort: str, number: int, *, has_previous: bool, has_next: bool | None = None) -> Page:
    """`objects`: the page's rows plus, when there is a next page, its first row."""
    if has_next is None:
        has_next = len(objects) > PAGE_SIZE
    objects = objects[:PAGE_SIZE]
    page = Page(objects, number, has_previous and number > 1, has_next)
    if has_next and number + 1 <= MAX_NUMBERED_PAGE:
        page.next_page = number + 1
    elif has_next:
        page.next_cursor = make_cursor(objects[-1], sort, number + 1, forward=True)
    if page.has_previous and 2 < number <= MAX_NUMBERED_PAGE + 1:
        page.previous_page = number - 1
    elif page.has_previous and number > 2 and objects:
        page.previous_cursor = make_cursor(objects[0], sort, number - 1, forward=False)
    return page
