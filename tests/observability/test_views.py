"""GET /metrics: off without METRICS_TOKEN, only to that token, by any host name; the series move
with real requests and instance API calls, and carry no ids."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from setup_portal.events.models import PollState
from setup_portal.instances import state
from setup_portal.instances.models import Instance
from setup_portal.polling.poller import poll_instance
from tests.api.conftest import Caller, issue_token
from tests.instances.factories import make_instance, sandbox_s2s_instance

from .scraping import samples, value

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def scrape(settings):
    settings.METRICS_TOKEN = TOKEN

    def get() -> str:
        response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
        return response.content.decode()
    return get


def test_it_is_off_without_a_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_it_requires_the_token(header, client, db, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"portal_" not in response.content


def test_it_answers_prometheus_by_the_pods_address(scrape, client, db, settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    response = client.get("/metrics", HTTP_HOST="10.1.2.3:8000", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_requests_are_counted_by_route_name_never_by_path(scrape, alice_client, alice):
    inst = make_instance(alice)
    before = scrape()
    assert alice_client.get(f"/instances/{inst.pk}/").status_code == 200
    assert alice_client.get("/no/such/page/").status_code == 404
    after = scrape()
    assert value(after, "portal_http_requests_total", route="instances:detail", method="GET", status="200") == \
        value(before, "portal_http_requests_total", route="instances:detail", method="GET", status="200") + 1
    assert value(after, "portal_http_request_duration_seconds_count", route="instances:detail") > 0
    assert value(after, "portal_http_requests_total", status="404") > value(before, "portal_http_requests_total",
                                                                            status="404")
    assert str(inst.pk) not in after and "/no/such/page/" not in after and "alice" not in after


def test_instance_api_calls_are_counted_with_dataverse_latency(scrape, alice, sandbox, clean_sandbox, settings):
    settings.CRM_RATE_LIMIT = "off"
    inst = sandbox_s2s_instance(alice, sandbox.info, filter_nulls=False)
    app = Caller(inst, issue_token(inst), Client())
    before = scrape()
    assert app.get("/api/v1/crm/accounts").status_code == 200
    assert app.get("/api/v1/crm/nosuchtables").status_code == 404
    after = scrape()
    calls = {"resource": "accounts", "method": "GET", "status": "200"}
    assert value(after, "portal_instance_api_calls_total", **calls) == \
        value(before, "portal_instance_api_calls_total", **calls) + 1
    assert value(after, "portal_dataverse_duration_seconds_count", resource="accounts") == \
        value(before, "portal_dataverse_duration_seconds_count", resource="accounts") + 1
    assert value(after, "portal_http_requests_total", route="collection", status="200") >= 1
    # The first call asked Azure AD for a token.
    assert value(after, "portal_token_refreshes_total", outcome="refreshed") >= 1
    assert "nosuchtables" not in after and str(inst.pk) not in after


def test_a_refused_token_refresh_is_counted_as_failed(scrape, alice, sandbox, clean_sandbox, settings):
    settings.CRM_RATE_LIMIT = "off"
    inst = sandbox_s2s_instance(alice, sandbox.info, client_secret="not-the-secret-azure-knows-0123456789")
    app = Caller(inst, issue_token(inst), Client())
    before = scrape()
    assert app.get("/api/v1/crm/accounts").status_code >= 400
    after = scrape()
    assert value(after, "portal_token_refreshes_total", outcome="failed") == \
        value(before, "portal_token_refreshes_total", outcome="failed") + 1
    assert "not-the-secret" not in after


def test_a_late_poll_is_observed_per_table(scrape, alice, sandbox, clean_sandbox):
    inst = sandbox_s2s_instance(alice, sandbox.info, polling_enabled=True, polling_resources=["accounts"])
    before = scrape()
    PollState.objects.create(instance=inst, table="accounts", next_poll_at=timezone.now() - dt.timedelta(minutes=3))
    assert poll_instance(str(inst.pk)) == "polled"
    after = scrape()
    assert value(after, "portal_poll_lag_seconds_count", table="accounts") == \
        value(before, "portal_poll_lag_seconds_count", table="accounts") + 1
    # Three minutes late: in the 300 s bucket, not in the 120 s one.
    grew = {le: value(after, "portal_poll_lag_seconds_bucket", table="accounts", le=le)
            - value(before, "portal_poll_lag_seconds_bucket", table="accounts", le=le) for le in ("120.0", "300.0")}
    assert grew == {"120.0": 0, "300.0": 1}


def test_instances_are_read_from_the_counters(scrape, alice):
    before = scrape()
    make_instance(alice, status=Instance.Status.READY, health=Instance.Health.HEALTHY)
    make_instance(alice, status=Instance.Status.READY, health=Instance.Health.FAILING)
    make_instance(alice, status=Instance.Status.FAILED)
    gone = make_instance(alice, status=Instance.Status.READY, health=Instance.Health.HEALTHY)
    state.transition(gone, None, acting_user=None, status=Instance.Status.DELETED)
    text = scrape()

    def grew(**labels) -> float:
        return value(text, "portal_instances", **labels) - value(before, "portal_instances", **labels)

    assert grew(status="ready", health="healthy") == 1 and grew(status="ready", health="failing") == 1
    assert grew(status="failed", health="unknown") == 1
    assert value(text, "portal_instances", status="deleted") == 0
    # Read from the counters' few rows, never a COUNT over the instances.
    with CaptureQueriesContext(connection) as queries:
        scrape()
    tables = " ".join(q["sql"] for q in queries)
    assert "stats_statecount" in tables and "instances_instance" not in tables


def test_no_label_holds_an_id(scrape, alice_client, alice):
    make_instance(alice)
    alice_client.get("/instances/")
    uuid_like = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{32}")
    for name, labels, _ in samples(scrape()):
        for label in labels.values():
            assert not uuid_like.search(label) and "/" not in label.replace("{id}", ""), (name, labels)
