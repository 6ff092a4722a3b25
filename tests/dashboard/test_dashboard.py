"""The dashboard: who may see it, filters, search, sorting, CSV, and a constant query count."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django import forms
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from setup_portal.dashboard.filters import InstanceFilterForm, QuickSelect
from setup_portal.instances import state
from setup_portal.instances.dates import secret_countdown
from setup_portal.instances.models import Instance
from tests.instances.factories import SECRET, make_instance

URL = "/instances/"


def _names(response) -> list[str]:
    return [inst.name for inst in response.context["page"].object_list]


def test_it_requires_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(URL + "export.csv").status_code == 302


def test_it_refuses_users_without_a_role(charlie_client):
    assert charlie_client.get(URL).status_code == 403
    assert charlie_client.get(URL + "export.csv").status_code == 403


def test_it_works_for_team_leads_and_admins(alice, bob_client, alice_client):
    make_instance(alice, name="fabrikam-prod")
    for client in (bob_client, alice_client):
        response = client.get(URL)
        assert response.status_code == 200
        assert "fabrikam-prod" in response.content.decode()


def test_it_shows_every_column(alice, bob_client):
    make_instance(alice, name="northwind-emea", region="EMEA", tags=",sales,pilot,",
                  secret_expires_on=timezone.localdate() + dt.timedelta(days=5),
                  access_token_expires_at=timezone.now() + dt.timedelta(minutes=30),
                  health=Instance.Health.HEALTHY, health_checked_at=timezone.now())
    html = bob_client.get(URL).content.decode()
    for text in ["northwind-emea", "crm4.dynamics.com", "EMEA", "OAuth 2.0", "Ready", "Awaiting review", "Healthy",
                 "alice", "5 days left", "sales", "pilot"]:
        assert text in html, text
    assert "badge-bad" in html  # 5 days: red
    assert SECRET not in html and "••••" not in html


def test_row_values_are_escaped(alice, bob_client):
    """The rows are built in Python (dashboard/views.py's ROW_HTML), not by the template's autoescape."""
    make_instance(alice, name='<script>alert("n")</script>', region="<b>EU</b>", tags=",r&d,<i>,",
                  health=Instance.Health.FAILING, health_checked_at=timezone.now(),
                  health_detail='401 "Unauthorized" <img src=x>')
    html = bob_client.get(URL + "?status=ready").content.decode()
    assert "<script>alert" not in html and "<b>EU" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(&quot;n&quot;)&lt;/script&gt;" in html and "&lt;b&gt;EU&lt;/b&gt;" in html
    assert 'title="401 &quot;Unauthorized&quot; &lt;img src=x&gt;"' in html
    # A tag's link keeps the other filters and is percent-encoded, then escaped.
    assert 'href="?status=ready&amp;tag=r%26d" aria-label="Filter by tag r&amp;d">r&amp;d</a>' in html
    assert 'href="?status=ready&amp;tag=%3Ci%3E" aria-label="Filter by tag &lt;i&gt;">&lt;i&gt;</a>' in html


@pytest.mark.parametrize("value", ["", "failed", None, 3, "<x>"])
def test_quick_select_renders_what_django_select_renders(value):
    choices = [("", "Any <status>"), ("failed", "Failed & gone"), (3, "Team 3"),
               ("Group", [("a", "A"), ("b", 'B "quoted"')])]
    attrs = {"id": "id_status", "aria-invalid": True, "disabled": False, "data-x": 'a"b'}
    expected = forms.Select(choices=choices).render("status", value, attrs=attrs)
    assert QuickSelect(choices=choices).render("status", value, attrs=attrs) == expected


def test_the_filter_selects_match_django_in_a_bound_form():
    data, teams = {"status": "failed", "secret": "bogus", "team": "2"}, [(1, "A&B"), (2, "C")]
    quick, plain = InstanceFilterForm(data, teams=teams), InstanceFilterForm(data, teams=teams)
    names = ("team", "status", "review", "health", "secret")
    for name in names:
        plain.fields[name].widget = forms.Select(choices=plain.fields[name].choices)
    assert not quick.is_valid() and not plain.is_valid()  # the bad secret: aria-invalid on that select
    for name in names:
        assert isinstance(quick.fields[name].widget, QuickSelect)
        assert str(quick[name]) == str(plain[name]), name


def test_the_secret_countdown_turns_amber_then_red_then_expired():
    today = dt.date(2026, 1, 10)
    assert secret_countdown(today + dt.timedelta(days=90), today).css == ""
    assert secret_countdown(today + dt.timedelta(days=30), today).css == "badge-warn"
    assert secret_countdown(today + dt.timedelta(days=7), today).css == "badge-bad"
    assert secret_countdown(today, today).label == "expires today"
    expired = secret_countdown(today - dt.timedelta(days=3), today)
    assert (expired.label, expired.css) == ("expired 3 days ago", "badge-bad")


@pytest.fixture
def fleet(alice, bob):
    today = timezone.localdate()
    return {
        "ready": make_instance(alice, name="contoso-ready", tags=",sales,emea,"),
        "failed": make_instance(alice, name="contoso-failed", status=Instance.Status.FAILED, tags=",finance,"),
        "reauth": make_instance(bob, name="tailspin-reauth", status=Instance.Status.NEEDS_REAUTH,
                                review_state=Instance.Review.APPROVED),
        "soon": make_instance(alice, name="wingtip-soon", secret_expires_on=today + dt.timedelta(days=12)),
        "week": make_instance(alice, name="wingtip-week", secret_expires_on=today + dt.timedelta(days=3)),
        "expired": make_instance(alice, name="wingtip-expired", secret_expires_on=today - dt.timedelta(days=2)),
        "deleted": make_instance(alice, name="litware-deleted", status=Instance.Status.DELETED),
    }


def test_deleted_instances_are_hidden_unless_asked_for(fleet, bob_client):
    assert "litware-deleted" not in _names(bob_client.get(URL))
    assert _names(bob_client.get(URL, {"status": "deleted"})) == ["litware-deleted"]
    assert "litware-deleted" in _names(bob_client.get(URL, {"status": "all"}))


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "failed"}, {"contoso-failed"}),
    ({"status": "needs_reauth"}, {"tailspin-reauth"}),
    ({"review": "approved"}, {"tailspin-reauth"}),
    ({"tag": "sales"}, {"contoso-ready"}),
    ({"tag": "SALES"}, {"contoso-ready"}),
    ({"owner": "bob"}, {"tailspin-reauth"}),
    ({"secret": "soon"}, {"wingtip-soon", "wingtip-week", "wingtip-expired"}),
    ({"secret": "week"}, {"wingtip-week", "wingtip-expired"}),
    ({"secret": "expired"}, {"wingtip-expired"}),
    ({"q": "WINGTIP"}, {"wingtip-soon", "wingtip-week", "wingtip-expired"}),
    ({"q": "emea"}, set()),  # tags and region are searched: region is EMEA for all -> see below
    ({"secret": "soon", "owner": "alice", "q": "week"}, {"wingtip-week"}),
])
def test_it_filters(fleet, bob_client, params, expected):
    response = bob_client.get(URL, params)
    assert response.status_code == 200
    names = set(_names(response))
    if params == {"q": "emea"}:
        expected = {i.name for k, i in fleet.items() if k != "deleted"}
    assert names == expected


def test_search_finds_a_client_id(fleet, bob_client):
    assert _names(bob_client.get(URL, {"q": fleet["failed"].client_id[:13]})) == ["contoso-failed"]


def test_bad_filter_values_are_refused_in_plain_words(fleet, bob_client):
    response = bob_client.get(URL, {"status": "bogus", "sort": "password"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Some filters were ignored" in html and "cannot be sorted" in html
    assert len(_names(response)) == 6  # the valid rest still applies


def test_it_sorts_server_side_both_ways(fleet, bob_client):
    ascending = _names(bob_client.get(URL, {"sort": "name"}))
    assert ascending == sorted(ascending)
    assert _names(bob_client.get(URL, {"sort": "-name"})) == list(reversed(ascending))
    by_secret = _names(bob_client.get(URL, {"sort": "secret"}))
    assert by_secret[:3] == ["wingtip-expired", "wingtip-week", "wingtip-soon"]
    html = bob_client.get(URL, {"sort": "name"}).content.decode()
    assert 'aria-sort="ascending"' in html and "sort=-name" in html


def test_pagination_keeps_the_filters_in_the_url(alice, bob_client):
    for n in range(55):
        make_instance(alice, name=f"fourthcoffee-{n:02d}", tags=",pilot,")
    make_instance(alice, name="outsider")
    response = bob_client.get(URL, {"tag": "pilot", "sort": "name"})
    page = response.context["page"]
    assert page.total == 55 and not page.capped and len(page.object_list) == 50
    html = response.content.decode()
    assert "tag=pilot&amp;sort=name&amp;page=2" in html
    second = bob_client.get(URL, {"tag": "pilot", "sort": "name", "page": 2})
    assert _names(second) == [f"fourthcoffee-{n:02d}" for n in range(50, 55)]


def test_tiles_count_the_whole_fleet(fleet, bob_client):
    counts = bob_client.get(URL).context["counts"]
    assert counts["status_ready"] == 4 and counts["status_failed"] == 1 and counts["status_needs_reauth"] == 1
    assert counts["secrets_expiring"] == 2 and counts["secrets_expired"] == 1
    assert counts["total"] == 6


def test_the_chart_is_inline_svg_without_a_library(fleet, bob_client):
    ready = fleet["ready"]
    state.transition(ready, None, acting_user=None, ready_at=ready.created_at + dt.timedelta(seconds=4))
    response = bob_client.get(URL)
    html = response.content.decode()
    assert '<svg class="chart"' in html and "<polyline" in html
    assert "cdn" not in html.lower() and "chart.js" not in html.lower()
    chart = response.context["chart"]
    assert chart["total"] == 7 and chart["avg_s"] == pytest.approx(4.0, abs=0.01)


def test_the_csv_export_has_the_filtered_rows_and_no_secrets(fleet, bob_client):
    Instance.objects.filter(pk=fleet["soon"].pk).update(name="=cmd|calc")
    response = bob_client.get(URL + "export.csv", {"secret": "soon", "sort": "name"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["name"] for r in rows] == ["'=cmd|calc", "wingtip-expired", "wingtip-week"]
    assert rows[2]["secret_days_left"] == "3" and rows[1]["secret_days_left"] == "-2"
    assert rows[2]["owner"] == "alice" and rows[2]["status"] == "ready"
    assert "client_secret" not in rows[0] and "secret_hint" not in rows[0]
    assert SECRET not in body and "••••" not in body


def _dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, {"sort": "-created"})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_query_count_does_not_grow_with_the_rows(alice, bob, bob_client):
    for _ in range(10):
        make_instance(alice, tags=",sales,")
    bob_client.get(URL)  # warm-up: content types, session
    at_10 = _dashboard_queries(bob_client)
    call_command("seed_instances", 990, stdout=io.StringIO())
    assert Instance.objects.count() == 1000
    at_1000 = _dashboard_queries(bob_client)
    assert at_10 == at_1000
    assert at_1000 < 12
