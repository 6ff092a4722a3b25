"""nextPage cursors: signed, bound to an instance and a resource, expiring, and carrying no URL."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core import signing
from hypothesis import given, settings
from hypothesis import strategies as st

from setup_portal.crm.cursor import SALT, NextPage, make_cursor, read_cursor
from setup_portal.crm.errors import QueryError
from setup_portal.crm.evaluate import evaluate
from setup_portal.crm.query import build_list_query
from setup_portal.crm.resources import ACCOUNTS, CONTACTS, to_record

from ..fuzz import SPECIAL_TEXT

SKIPTOKEN = '<cookie pagenumber="2" pagingcookie="%3Ccookie%20page%3D%221%22%3E" istracking="False" />'
LINK = ("https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$select=accountid,name"
        "&$filter=name%20eq%20'a%26b'&$skiptoken=" + quote(SKIPTOKEN, safe=""))


def cursor_for(link: str = LINK, instance_id: object = 7, page_size: int = 50) -> str:
    return make_cursor(link, instance_id=instance_id, resource=ACCOUNTS, page_size=page_size)


def refused(cursor: str, instance_id: object = 7, resource=ACCOUNTS, **kwargs) -> str:
    with pytest.raises(QueryError) as caught:
        read_cursor(cursor, instance_id=instance_id, resource=resource, **kwargs)
    assert caught.value.param == "nextPage"
    return caught.value.message


def test_it_keeps_the_query_options_of_the_next_link_and_nothing_else():
    link = ("https://evil.example/other/path/accounts?$select=accountid&$skiptoken=abc&$expand=x&@p1=1"
            "&redirect=https://evil.example/")

    page = read_cursor(cursor_for(link, page_size=20), instance_id=7, resource=ACCOUNTS)

    assert page == NextPage({"$select": "accountid", "$skiptoken": "abc"}, 20)
    assert page.prefer == "odata.maxpagesize=20"


def test_it_reads_back_filters_with_quotes_and_ampersands_and_paging_cookies():
    page = read_cursor(cursor_for(), instance_id=7, resource=ACCOUNTS)

    assert page.params == {"$select": "accountid,name", "$filter": "name eq 'a&b'", "$skiptoken": SKIPTOKEN}


def test_it_refuses_links_that_are_not_a_next_page_of_the_resource():
    with pytest.raises(ValueError, match="not for accounts"):
        cursor_for("https://contoso.crm.dynamics.com/api/data/v9.2/contacts?$skiptoken=abc")
    with pytest.raises(ValueError, match="no \\$skiptoken"):
        cursor_for("https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$select=name")


def test_it_refuses_changed_cut_and_forged_cursors():
    cursor = cursor_for()
    payload, _, signature = cursor.rpartition(":")
    flipped = payload[:5] + ("A" if payload[5] != "A" else "B") + payload[6:]
    forged_payload = {"i": "7", "r": "accounts", "n": 50, "q": {"$skiptoken": "x"}}

    for bad in (f"{flipped}:{signature}", cursor[:-1], cursor + "A", cursor[1:], payload,
                signing.dumps(forged_payload, salt="another.salt"),
                signing.dumps(forged_payload, salt=SALT, key="not-the-portal's-secret-key")):
        assert "nextPage is not a cursor this API issued" in refused(bad)


def test_it_refuses_cursors_of_another_instance_or_resource():
    assert refused(cursor_for(instance_id=7), instance_id=8) == "nextPage was issued for another instance."
    assert refused(cursor_for(), resource=CONTACTS) == "nextPage was issued for accounts, not contacts."


def test_it_refuses_expired_cursors():
    cursor = cursor_for()
    assert read_cursor(cursor, instance_id=7, resource=ACCOUNTS).page_size == 50
    time.sleep(1.1)

    message = refused(cursor, max_age=timedelta(seconds=1))

    assert message == "nextPage has expired (cursors last 1 second): list again from the first page."
    assert read_cursor(cursor, instance_id=7, resource=ACCOUNTS).page_size == 50  # an hour by default


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.text(max_size=300), st.sampled_from(SPECIAL_TEXT), st.just("x" * 9000),
                 st.builds(lambda a, b: f"{a}:{b}:{a}", st.text(max_size=40), st.text(max_size=40))))
def test_it_answers_any_text_with_a_query_error(text):
    refused(text)


def test_it_pages_through_the_sandbox(dataverse):
    """Three and more pages of a filtered, ordered listing, each asked for with the cursor of the one before."""
    listing = build_list_query(CONTACTS, where="city in ('Paris', 'Tokyo') and lastName < 'N'",
                               fields="lastName,city", order_by="lastName desc", page_size="25")
    body = dataverse.ok("contacts", listing.params, prefer=listing.prefer)
    ids, pages = [r["contactid"] for r in body["value"]], 1
    while "@odata.nextLink" in body:
        cursor = make_cursor(body["@odata.nextLink"], instance_id="i-1", resource=CONTACTS,
                             page_size=listing.page_size)
        following = read_cursor(cursor, instance_id="i-1", resource=CONTACTS)
        body = dataverse.ok("contacts", following.params, prefer=following.prefer)
        ids += [r["contactid"] for r in body["value"]]
        pages += 1

    everyone = [to_record(r, CONTACTS) for r in dataverse.rows(CONTACTS)]
    expected = [r for r in everyone if evaluate(listing.where, r, CONTACTS)]
    assert pages >= 3
    assert sorted(ids) == sorted(r["id"] for r in expected) and len(set(ids)) == len(ids)
