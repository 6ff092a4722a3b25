"""Notifications: rows and e-mail for the instance's owner and the team leads, the bell, the list."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from setup_portal.accounts.roles import set_role
from setup_portal.events.models import Notification
from setup_portal.events.notifications import notify, recipients
from tests.instances.factories import make_instance


def _notify(inst, users, message="Contoso needs re-authentication.", kind="needs_reauth"):
    return notify(users, instance=inst, kind=kind, message=message, link=f"/instances/{inst.pk}/")


def test_recipients_are_the_owner_and_the_team_leads(alice, bob, charlie):
    other_lead = get_user_model().objects.create_user("dana", "dana@example.com", "x")
    set_role(other_lead, "teamlead")
    gone = get_user_model().objects.create_user("eve", "eve@example.com", "x", is_active=False)
    set_role(gone, "teamlead")
    inst = make_instance(alice)
    assert [u.username for u in recipients(inst)] == ["alice", "bob", "dana"]


def test_it_stores_and_mails_each_notification_once(alice, bob, django_capture_on_commit_callbacks):
    inst = make_instance(alice)
    with django_capture_on_commit_callbacks(execute=True):
        made = _notify(inst, [alice, bob, alice])
    assert len(made) == 2 and Notification.objects.count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    body = mail.outbox[0].body
    assert "Contoso needs re-authentication." in body and f"/instances/{inst.pk}/" in body
    with django_capture_on_commit_callbacks(execute=True):
        assert _notify(inst, [alice]) == []  # the same, still unread: not repeated
    assert len(mail.outbox) == 2


def test_the_bell_shows_the_unread_count_with_one_query(alice, alice_client):
    inst = make_instance(alice)
    _notify(inst, [alice])
    _notify(inst, [alice], message="Health check failing.", kind="health_failing")
    with CaptureQueriesContext(connection) as queries:
        page = alice_client.get("/notifications/").content.decode()
    assert 'aria-label="Notifications: 2 unread"' in page and '<span class="bell-count">2</span>' in page
    unread_counts = [q for q in queries.captured_queries
                     if "events_notification" in q["sql"] and "COUNT" in q["sql"] and "read_at" in q["sql"]]
    assert len(unread_counts) == 1  # the page asks too (Mark all read): the count is made once


def test_reading_one_marks_it_and_goes_to_the_fix(alice, alice_client):
    inst = make_instance(alice)
    (note,) = _notify(inst, [alice])
    resp = alice_client.post(f"/notifications/{note.pk}/read/")
    assert resp.status_code == 302 and resp["Location"] == f"/instances/{inst.pk}/"
    note.refresh_from_db()
    assert note.read_at is not None
    assert "bell-count" not in alice_client.get("/notifications/").content.decode()


def test_nobody_reads_someone_elses(alice, bob_client):
    (note,) = _notify(make_instance(alice), [alice])
    assert bob_client.post(f"/notifications/{note.pk}/read/").status_code == 404
    assert bob_client.get(f"/notifications/{note.pk}/read/").status_code == 405


def test_mark_all_read(alice, alice_client):
    inst = make_instance(alice)
    _notify(inst, [alice])
    _notify(inst, [alice], message="Other")
    resp = alice_client.post("/notifications/read-all/", follow=True)
    assert "Marked 2 notifications read." in resp.content.decode()
    assert not Notification.objects.filter(read_at=None).exists()
