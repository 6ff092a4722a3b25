"""The audit log page: who may see it, filters, pagination and CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from setup_portal.audit.models import AuditEvent, record
from setup_portal.dashboard.management.commands.seed_instances import Crew, Seeder
from setup_portal.instances.models import Instance
from tests.instances.factories import make_instance

URL = "/audit/"


@pytest.fixture
def events(alice, bob):
    inst = make_instance(alice, name="contoso-crm")
    other = make_instance(alice, name="fabrikam-crm")
    record("instance.created", inst, actor=alice, data={"auth_type": "oauth2", "client_secret": "Sup3rS3cret~value"})
    record("instance.approved", inst, actor=bob, data={"comment": "Fine"})
    record("instance.status_changed", other, data={"from": "ready", "to": "needs_reauth"})
    record("user.created", bob, actor=alice, data={"role": "teamlead"})
    old = record("instance.disabled", other, actor=alice)
    # Audit rows are append-only through the ORM; backdating one for the date filters takes raw SQL.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET created_at = %s WHERE id = %s",
                       [dt.datetime(2025, 1, 15, 12, tzinfo=dt.UTC), old.pk])
    return {"inst": inst, "other": other}


def _verbs(response) -> list[str]:
    return [e.verb for e in response.context["page"].object_list]


def test_it_requires_login(client, db):
    assert client.get(URL).status_code == 302
    assert client.get(URL + "export.csv").status_code == 302


def test_it_refuses_users_without_a_role(charlie_client):
    assert charlie_client.get(URL).status_code == 403
    assert charlie_client.get(URL + "export.csv").status_code == 403


def test_admins_and_team_leads_browse_it(events, alice_client, bob_client):
    # alice is a portal administrator too and sees the user's event; bob sees his team's.
    for client, seen in ((alice_client, 5), (bob_client, 4)):
        response = client.get(URL)
        assert response.status_code == 200
        assert len(_verbs(response)) == seen
    html = bob_client.get(URL).content.decode()
    assert "Sup3rS3cret~value" not in html and "[redacted]" in html


@pytest.mark.parametrize(("params", "expected"), [
    ({"actor": "bob"}, ["instance.approved"]),
    ({"actor": "system"}, ["instance.status_changed"]),
    ({"verb": "user.created"}, []),  # a user's events belong to no team: portal administrators see them
    ({"target_type": "instance", "actor": "bob"}, ["instance.approved"]),
    ({"q": "fabrikam"}, ["instance.status_changed", "instance.disabled"]),
    ({"until": "2025-01-31"}, ["instance.disabled"]),
    ({"since": "2025-02-01", "verb": "instance.disabled"}, []),
    ({"since": "2025-01-15", "until": "2025-01-15"}, ["instance.disabled"]),
])
def test_it_filters(events, bob_client, params, expected):
    assert _verbs(bob_client.get(URL, params)) == expected


def test_it_filters_by_target(events, bob_client):
    response = bob_client.get(URL, {"target": str(events["inst"].pk)})
    assert _verbs(response) == ["instance.approved", "instance.created"]


def test_a_backwards_date_range_is_refused_in_plain_words(events, bob_client):
    response = bob_client.get(URL, {"since": "2025-03-01", "until": "2025-01-01"})
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()
    assert bob_client.get(URL, {"since": "not-a-date"}).status_code == 400


def test_it_paginates(alice, alice_client):
    inst = make_instance(alice)
    for n in range(120):
        record("instance.health_check_requested", inst, actor=alice, data={"n": n})
    first = alice_client.get(URL)
    assert first.context["page"].paginator.num_pages == 3
    third = alice_client.get(URL, {"page": 3})
    assert [e.data["n"] for e in third.context["page"].object_list] == list(range(19, -1, -1))


def test_the_csv_export_follows_the_filters_and_holds_no_secrets(events, bob_client):
    response = bob_client.get(URL + "export.csv", {"target": str(events["inst"].pk)})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["action"] for r in rows] == ["instance.approved", "instance.created"]
    assert rows[0]["actor"] == "bob" and rows[0]["target"] == "contoso-crm"
    assert "Sup3rS3cret~value" not in body and "[redacted]" in rows[1]["data"]


def test_it_shows_changes_as_before_and_after_in_words(alice, alice_client):
    inst = make_instance(alice, name="contoso-crm")
    record("instance.edited", inst, actor=alice, data={"polling_enabled": {"from": False, "to": True},
                                                      "tags": {"from": [], "to": ["sales", "emea"]},
                                                      "region": {"from": None, "to": "EMEA"}})
    record("instance.health_changed", inst, data={"from": "healthy", "to": "failing", "error_code": "http_503"})
    html = alice_client.get(URL).content.decode()
    assert "no → yes" in html and "— → sales, emea" in html and "— → EMEA" in html
    assert '<span class="k">changed</span> healthy → failing' in html
    assert "{&#x27;from&#x27;" not in html and "{'from'" not in html and "False" not in html


def test_a_seeded_history_has_nothing_in_the_future(alice, bob, alice_client):
    # Thousands of drawn instances (no rows written): recent ones once got reviews and disables dated after now.
    seeder = Seeder(random.Random(42), [Crew(team_id=1, owners=[alice], leads=[bob])])
    for i in range(5000):
        inst = Instance(**seeder._values(i))
        assert max(event.created_at for event in seeder._events(inst)) <= seeder.now, inst.name
        assert (inst.reviewed_at or seeder.now) <= seeder.now and (inst.ready_at or seeder.now) <= seeder.now
    call_command("seed_instances", "40", stdout=io.StringIO())
    now = timezone.now()
    assert not AuditEvent.objects.filter(created_at__gt=now).exists()
    assert alice_client.get(URL).context["page"].object_list[0].created_at <= now
