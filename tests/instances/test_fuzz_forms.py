"""The dashboard, its CSV, the instance page and every review and lifecycle form: whatever comes in,
never a 500, and a refused input leaves the instance as it was."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import example, given
from hypothesis import strategies as st

from setup_portal.instances.dates import parse_recent_moment
from setup_portal.instances.models import Instance, InstanceReview
from tests import fuzz

from .factories import make_instance, sandbox_s2s_instance

STATUSES = [*Instance.Status.values, "all"]
FILTERS = {
    "q": fuzz.huge_or_hostile, "tag": fuzz.hostile_text, "owner": fuzz.hostile_text, "page": fuzz.hostile_text,
    "status": st.one_of(st.sampled_from(STATUSES), fuzz.hostile_text),
    "review": st.one_of(st.sampled_from(Instance.Review.values), fuzz.hostile_text),
    "health": st.one_of(st.sampled_from(Instance.Health.values), fuzz.hostile_text),
    "secret": st.one_of(st.sampled_from(["soon", "week", "expired"]), fuzz.hostile_text),
    "sort": st.one_of(st.sampled_from(["name", "-secret", "created", "-token", "owner"]), fuzz.hostile_text),
    "since": fuzz.hostile_dates, "until": fuzz.hostile_dates,
}


@pytest.fixture
def fleet(alice):
    today = timezone.localdate()
    return [
        make_instance(alice, name="contoso-sales", tags=",sales,prod,"),
        make_instance(alice, name="Caf\u00e9 \U0001f600 (test)", tags=",t\u00e9st,", secret_expires_on=dt.date.max),
        make_instance(alice, name="fabrikam", secret_expires_on=today - dt.timedelta(days=3),
                      status=Instance.Status.DISABLED),
        make_instance(alice, name="old", status=Instance.Status.DELETED, secret_expires_on=None),
    ]


def _instances() -> list[dict]:
    return [fuzz.snapshot(inst) for inst in Instance.objects.order_by("pk")]


@pytest.mark.parametrize("path", ["/instances/", "/instances/export.csv"])
def test_no_dashboard_filter_gives_a_500(fleet, bob_client, path):
    before = _instances()

    @fuzz.fuzz(25)
    @given(data=fuzz.form_data(FILTERS), htmx=st.booleans())
    def check(data, htmx):
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        fuzz.assert_answered(fuzz.get(bob_client, path, data, **extra))

    check()
    assert _instances() == before


@pytest.mark.parametrize("params", [{"q": "\x00"}, {"sort": "password"}, {"status": "nope"}, {"tag": "a,b"},
                                    {"q": fuzz.HUGE}])
def test_the_csv_export_refuses_filters_it_cannot_apply(fleet, bob_client, params):
    response = bob_client.get("/instances/export.csv", params)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert "Not exported: some filters could not be applied" in response.content.decode()


def test_the_csv_export_still_follows_valid_filters(fleet, bob_client):
    body = fuzz.assert_answered(bob_client.get("/instances/export.csv", {"tag": "sales", "sort": "-secret"}))
    assert body.count(b"contoso-sales") == 1 and b"fabrikam" not in body


# `?since=` marks a health check the admin just asked for. A February 30, or a year-9999 moment
# 14 hours west of UTC (which overflows in local time), was a 500 on the instance page.
@pytest.mark.parametrize("since", ["2025-02-30T00:00:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                   "2025-01-01T00:00:00", "yesterday"])
@pytest.mark.parametrize("path", ["", "status.json"])
def test_it_ignores_a_since_that_is_no_recent_moment(fleet, alice_client, since, path):
    inst = fleet[0]
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = alice_client.get(f"/instances/{inst.pk}/{path}", {"since": since}, **htmx)
        assert response.status_code == 200
        assert response.context is None or response.context["pending_since"] is None
        if path and not htmx:
            assert response.json()["pending"] is False


def test_a_since_from_a_minute_ago_still_shows_the_pending_check(fleet, alice_client):
    since = timezone.now() - dt.timedelta(minutes=1)
    response = alice_client.get(f"/instances/{fleet[0].pk}/status.json", {"since": since.isoformat()})
    assert response.json()["pending"] is True
    assert parse_recent_moment(since.isoformat(), timezone.now()) == since


@fuzz.fuzz(20)
@given(since=st.one_of(fuzz.hostile_dates, st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())),
       params=fuzz.form_data({"seen": fuzz.hostile_text, "page": fuzz.hostile_text}), htmx=st.booleans(),
       admin=st.booleans())
def test_no_instance_page_query_gives_a_500(fleet, alice_client, bob_client, since, params, htmx, admin):
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    client = alice_client if admin else bob_client
    for path in ("", "status.json", "progress/", "progress.json", "progress/stream/"):
        fuzz.assert_answered(fuzz.get(client, f"/instances/{fleet[1].pk}/{path}", {**params, "since": since}, **extra))


@fuzz.fuzz(30)
@given(segment=fuzz.hostile_text, action=st.sampled_from(["", "approve/", "disable/", "delete/", "progress/",
                                                          "rotate-secret/", "status.json", "progress/stream/"]))
def test_no_instance_path_gives_a_500(alice_client, segment, action):
    response = alice_client.get(f"/instances/{fuzz.quote_path(segment)}/{action}")
    fuzz.assert_answered(response, lambda status: status == 404)


REVIEW = {"comment": fuzz.huge_or_hostile, "\x00": fuzz.hostile_text}


@pytest.mark.parametrize("action", ["approve", "request-changes"])
def test_no_review_gives_a_500(fleet, bob_client, action):
    inst = fleet[0]

    @fuzz.fuzz(25)
    @given(data=fuzz.form_data(REVIEW), htmx=st.booleans())
    def check(data, htmx):
        Instance.objects.filter(pk=inst.pk).update(review_state=Instance.Review.PENDING)
        before, reviews = _instances(), fuzz.rows(InstanceReview)
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = fuzz.post(bob_client, f"/instances/{inst.pk}/{action}/", data, **extra)
        fuzz.assert_answered(response, lambda status: status in (204, 302, 400))
        if response.status_code == 400:
            assert _instances() == before and fuzz.rows(InstanceReview) == reviews

    check()


LIFECYCLE = {
    "disable": {"confirmed": st.one_of(st.just("yes"), fuzz.hostile_text), "reason": fuzz.huge_or_hostile},
    "enable": {"confirmed": st.one_of(st.just("yes"), fuzz.hostile_text)},
    "test-connection": {"confirmed": st.one_of(st.just("yes"), fuzz.hostile_text)},
    "delete": {"confirm_name": st.one_of(st.just(" contoso-sales "), fuzz.huge_or_hostile)},
    "progress/retry": {"confirmed": fuzz.hostile_text},
}


@pytest.mark.parametrize("action", list(LIFECYCLE))
def test_no_lifecycle_form_gives_a_500(fleet, alice_client, action):
    inst, others = fleet[0], [fuzz.snapshot(other) for other in fleet[1:]]

    @fuzz.fuzz(20)
    @given(data=fuzz.form_data({**LIFECYCLE[action], "\x00": fuzz.hostile_text}), htmx=st.booleans())
    def check(data, htmx):
        before = _instances()
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = fuzz.post(alice_client, f"/instances/{inst.pk}/{action}/", data, **extra)
        fuzz.assert_answered(response)
        if response.status_code >= 400 or (response.status_code == 200 and "confirmed" not in data):
            assert _instances() == before
        fuzz.assert_answered(fuzz.get(alice_client, f"/instances/{inst.pk}/{action}/", data))

    check()
    assert [fuzz.snapshot(other) for other in fleet[1:]] == others  # only the instance acted on changed


WELL_FORMED = {"new_secret": "Qx8~a-new-secret-value-0123456789",
               "expires_on": (dt.date.today() + dt.timedelta(days=90)).isoformat()}
ROTATE = {name: st.one_of(st.just(value), fuzz.huge_or_hostile) for name, value in WELL_FORMED.items()}


def test_no_new_secret_gives_a_500_or_replaces_the_working_one(alice, alice_client, sandbox):
    """Well-formed secrets go to the real sandbox tenant, which refuses them: the old secret stays."""
    inst = sandbox_s2s_instance(alice, sandbox.info, name="rotating")

    @fuzz.fuzz(20)
    @given(data=fuzz.form_data({**ROTATE, "\x00": fuzz.hostile_text}))
    @example(data=WELL_FORMED)
    def check(data):
        before = fuzz.snapshot(inst)
        response = fuzz.post(alice_client, f"/instances/{inst.pk}/rotate-secret/", data)
        fuzz.assert_answered(response, lambda status: status == 400)
        assert fuzz.snapshot(inst) == before

    check()
