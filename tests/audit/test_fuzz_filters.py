"""The audit log's filters and CSV export: extreme dates get a plain refusal, and no input gives a 500."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setup_portal.audit.models import AuditEvent, record
from tests import fuzz

URL = "/audit/"
CSV = "/audit/export.csv"


@pytest.fixture
def logged(alice, bob):
    record("user.created", bob, actor=alice, data={"role": "teamlead", "note": "caf\u00e9 \U0001f600"})
    return AuditEvent.objects.get()


@pytest.mark.parametrize("params", [{"until": "9999-12-31"}, {"since": "9999-12-31"}, {"since": "0001-01-01"},
                                    {"since": "0001-01-01", "until": "9999-12-31"}, {"until": "0001-01-01"}])
def test_it_refuses_dates_out_of_range_in_plain_words(logged, bob_client, params):
    response = bob_client.get(URL, params)
    assert response.status_code == 400
    assert "Pick a date between 2000-01-01 and 2999-12-31" in response.content.decode()
    assert 'min="2000-01-01" max="2999-12-31"' in response.content.decode()  # the date picker knows it too


@pytest.mark.parametrize("params", [{"until": "9999-12-31"}, {"since": "not-a-date"}, {"q": "\x00"},
                                    {"since": "2025-03-01", "until": "2025-01-01"}])
def test_the_csv_export_refuses_filters_it_cannot_apply(logged, bob_client, params):
    # Exporting everything while a filter was asked for would hand over rows nobody wanted.
    response = bob_client.get(CSV, params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Not exported: some filters could not be applied" in response.content.decode()


def test_the_widest_range_still_filters(logged, alice_client):
    # A user's events belong to no team: a portal administrator's (alice) to see.
    response = alice_client.get(URL, {"since": "2000-01-01", "until": "2999-12-31"})
    assert response.status_code == 200 and list(response.context["page"].object_list) == [logged]
    assert fuzz.assert_answered(alice_client.get(CSV, {"until": "2999-12-31"})).count(b"user.created") == 1


FIELDS = {"q": fuzz.huge_or_hostile, "actor": fuzz.hostile_text, "verb": fuzz.hostile_text,
          "target_type": fuzz.hostile_text, "target": fuzz.hostile_text, "since": fuzz.hostile_dates,
          "until": fuzz.hostile_dates, "page": fuzz.hostile_text}


@pytest.mark.parametrize("path", [URL, CSV])
def test_no_filter_gives_a_500(logged, bob_client, path):
    before = fuzz.rows(AuditEvent)

    @fuzz.fuzz(40)
    @given(data=fuzz.form_data(FIELDS), htmx=st.booleans())
    def check(data, htmx):
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        fuzz.assert_answered(fuzz.get(bob_client, path, data, **extra))

    check()
    assert fuzz.rows(AuditEvent) == before
