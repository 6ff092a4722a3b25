"""The instance page's API panel and the dashboard's "API calls (24h)" column, from the call log."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from setup_portal.api.models import ApiCall
from setup_portal.instances.models import Instance
from tests.instances.factories import make_instance

DASHBOARD = reverse("instances:dashboard")


@pytest.fixture
def inst(alice):
    return make_instance(alice, name="contoso-crm", token_prefix="dci_Ab3dE6gH", token_hash="ab" * 32)


def _calls(inst: Instance, latencies: list[int], *, status: int = 200, ago: dt.timedelta = dt.timedelta(minutes=5),
           **fields) -> None:
    when = timezone.now() - ago
    ApiCall.objects.bulk_create(
        ApiCall(instance=inst, created_at=when - dt.timedelta(seconds=i), method="GET", resource="accounts",
                status=status, latency_ms=ms, **fields) for i, ms in enumerate(latencies))


def _page(client, inst: Instance) -> str:
    response = client.get(reverse("instances:detail", args=[inst.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_where_and_how_to_call_the_instance(alice_client, inst):
    html = _page(alice_client, inst)
    base = settings.PORTAL_BASE_URL.rstrip("/") + "/api/v1/crm/"
    assert f'<span class="mono" id="api-base-url">{base}</span>' in html
    assert (f'curl -H &quot;Authorization: Bearer $INSTANCE_TOKEN&quot; &quot;{base}accounts?pageSize=5&quot;'
            in html)
    assert 'data-copy="#api-curl"' in html and "dci_Ab3dE6gH…" in html
    assert "No calls yet." in html


def test_it_counts_the_last_24_hours_with_error_rate_and_percentiles(alice_client, inst, alice):
    _calls(inst, list(range(1, 91)))                                    # 90 calls, 1..90 ms
    _calls(inst, [100] * 5, status=404)                                # 5 client errors
    _calls(inst, [500] * 5, status=503, retries=2, request_id="req-7")  # 5 server errors
    _calls(inst, [9999] * 30, ago=dt.timedelta(hours=25))              # older: left out
    _calls(make_instance(alice), [9999] * 10)                          # another instance's
    html = _page(alice_client, inst)
    assert '<span class="n" id="api-calls-24h">100</span>' in html
    assert "10.0 %" in html and "(10, 5 5xx)" in html
    # Nearest rank over the 100 latencies: the 50th is 50 ms, the 95th the last 404 (100 ms).
    assert "50 ms</span><span class=\"l\">p50 latency" in html
    assert "100 ms</span><span class=\"l\">p95 latency" in html


def test_it_lists_the_last_50_calls_newest_first(alice_client, inst):
    _calls(inst, [7] * 60, ago=dt.timedelta(hours=30))
    ApiCall.objects.create(instance=inst, method="PATCH", resource="contacts/{id}", status=412, latency_ms=33,
                           upstream_ms=21, retries=1, request_id="5f7c0e9a-req", trace={"request": {"body": "x"}})
    html = _page(alice_client, inst)
    table = html[html.index('<table class="data api-calls">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 51  # the header and 50 calls, though 61 are logged
    first_row = table.split("<tr>")[2]
    for text in ["PATCH", "contacts/{id}", "412", "33 ms", "(21 ms Dataverse)", "<td>1</td>", "5f7c0e9a-req",
                 "data-relative", " UTC</time>"]:
        assert text in first_row, text


def test_team_leads_see_it_read_only(bob_client, inst):
    Instance.objects.filter(pk=inst.pk).update(trace_until=timezone.now() + dt.timedelta(hours=1))
    _calls(inst, [12])
    html = _page(bob_client, inst)
    assert 'id="api-h"' in html and '<span class="n" id="api-calls-24h">1</span>' in html
    assert reverse("instances:issue_token", args=[inst.pk]) not in html
    assert "Trace logging" not in html


def test_people_without_a_role_see_nothing(charlie_client, inst):
    assert charlie_client.get(reverse("instances:detail", args=[inst.pk])).status_code == 403


def _detail_queries(client, inst: Instance) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("instances:detail", args=[inst.pk])).status_code == 200
    return len(ctx.captured_queries)


def test_the_panel_costs_the_same_queries_whatever_the_traffic(alice_client, inst):
    alice_client.get(reverse("instances:detail", args=[inst.pk]))  # warm-up: session, content types
    quiet = _detail_queries(alice_client, inst)
    _calls(inst, [5] * 10)
    few = _detail_queries(alice_client, inst)
    _calls(inst, list(range(500)))
    busy = _detail_queries(alice_client, inst)
    # With calls, the two percentile queries join in; beyond that nothing grows.
    assert few == busy <= quiet + 2


# The dashboard column ------------------------------------------------------------------------------

def test_the_dashboard_shows_and_sorts_by_calls_in_the_last_24_hours(alice, bob_client):
    quiet = make_instance(alice, name="quiet")
    busy = make_instance(alice, name="busy")
    some = make_instance(alice, name="some")
    _calls(busy, [1] * 12)
    _calls(some, [1] * 3)
    _calls(quiet, [1] * 50, ago=dt.timedelta(hours=26))  # too old to count
    html = bob_client.get(DASHBOARD).content.decode()
    assert "API calls (24h)" in html and "?sort=calls" in html

    def names(sort: str) -> list[str]:
        response = bob_client.get(DASHBOARD, {"sort": sort})
        return [(row.name, row.api_calls_24h) for row in response.context["page"].object_list]

    assert names("-calls") == [("busy", 12), ("some", 3), ("quiet", 0)]
    assert names("calls") == [("quiet", 0), ("some", 3), ("busy", 12)]


def _dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(DASHBOARD, {"sort": "-calls"})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_column_adds_no_query_per_row(alice, bob_client):
    def add(n: int) -> None:
        for _ in range(n):
            inst = make_instance(alice)
            _calls(inst, [3] * 4)

    add(10)
    bob_client.get(DASHBOARD)  # warm-up
    at_10 = _dashboard_queries(bob_client)
    add(90)
    at_100 = _dashboard_queries(bob_client)
    assert at_10 == at_100
    with CaptureQueriesContext(connection) as ctx:
        bob_client.get(DASHBOARD)
    assert sum("api_apicall" in q["sql"] for q in ctx.captured_queries) == 1  # inside the page's own query
