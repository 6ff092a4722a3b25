"""Properties of the `where` language over random trees and random text (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from setup_portal.crm.errors import QueryError
from setup_portal.crm.odata import to_odata
from setup_portal.crm.query import ListQuery, build_list_query
from setup_portal.crm.resources import RESOURCES
from setup_portal.crm.where import parse_where, to_where
from setup_portal.crm.where_tokens import KEYWORDS

from ..fuzz import SPECIAL_TEXT
from .odata_check import assert_same_meaning
from .strategies import AWKWARD_TEXT, trees

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", list(RESOURCES))
def test_it_reads_back_every_tree_it_writes(name):
    """Random valid trees -> where text -> parse: the same tree; and the sandbox's OData parser reads our
    $filter as the same conditions with the same strings."""
    resource = RESOURCES[name]

    @FAST
    @given(trees(resource))
    def check(tree):
        assert parse_where(to_where(tree), resource) == tree
        assert_same_meaning(tree, resource)

    check()


def _pieces(resource) -> list[str]:
    return [*resource.field_names, *KEYWORDS, "NOT", "And", "=", "!=", "<>", "<", "<=", ">", ">=", "(", ")", ",",
            "'a'", "'O''Brien'", "''", "'", "0", "-1", "1.5", "2147483648", "2025-01-31", "2025-02-30",
            "2025-01-31T09:30:00Z", "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "'%a%'", "'a_%'", "'%'", "eq", "ne",
            "null", "\x00", "\ud800", "\u00a0", '"', ";", "%", "[", "'x' or 1 eq 1"]


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Valid where text with a few pieces cut out or put in: junk close enough to get deep into the parser."""
    for at, cut, piece in edits:
        at %= len(text) + 1
        text = text[:at] + piece + text[at + cut:]
    return text


_PIECES = _pieces(RESOURCES["accounts"])
junk = st.one_of(
    st.text(max_size=60),
    st.sampled_from(SPECIAL_TEXT + AWKWARD_TEXT),
    st.lists(st.sampled_from(_PIECES), max_size=14).map(" ".join),
    st.builds(_mutate, trees(RESOURCES["accounts"], max_leaves=4).map(to_where),
              st.lists(st.tuples(st.integers(0, 300), st.integers(0, 3), st.sampled_from(["", " ", *_PIECES])),
                       max_size=3)),
)


@FAST
@given(junk)
def test_it_answers_any_text_with_a_tree_or_a_query_error(text):
    resource = RESOURCES["accounts"]
    try:
        tree = parse_where(text, resource)
    except QueryError as exc:
        assert exc.param == "where" and exc.message
        return
    # What it does accept, it renders faithfully and reads back the same.
    assert parse_where(to_where(tree), resource) == tree
    assert_same_meaning(tree, resource)


@FAST
@given(where=st.none() | junk, fields=st.none() | st.text(max_size=30), order_by=st.none() | st.text(max_size=30),
       page_size=st.none() | st.text(max_size=6) | st.integers(-5, 300))
def test_it_answers_any_list_options_with_a_query_or_a_query_error(where, fields, order_by, page_size):
    try:
        listing = build_list_query(RESOURCES["contacts"], where=where, fields=fields, order_by=order_by,
                                   page_size=page_size)
    except QueryError as exc:
        assert exc.param in {"where", "fields", "orderBy", "pageSize"} and exc.message
        return
    assert isinstance(listing, ListQuery) and 1 <= listing.page_size <= 200
    assert listing.params["$select"].startswith("contactid")
    if listing.where is not None:
        assert listing.params["$filter"] == to_odata(listing.where, RESOURCES["contacts"])
