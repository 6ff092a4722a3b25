"""Notifications: one bell entry per person, instance and kind, e-mail at once for the first and
as an hourly digest for the rest, the notifications page (filters, mark read), and muting."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given

from config.celery import app
from setup_portal.audit.models import AuditEvent
from setup_portal.events.models import InstanceMute, Notification
from setup_portal.events.notifications import notify, recipients, send_digests
from setup_portal.events.tasks import send_notification_digests
from setup_portal.teams.roles import set_role
from tests import fuzz
from tests.instances.factories import make_instance


def _notify(inst, users, message="Contoso needs re-authentication.", kind="needs_reauth"):
    return notify(users, instance=inst, kind=kind, message=message, link=f"/instances/{inst.pk}/")


@pytest.fixture
def clock(monkeypatch):
    """Django's clock, moved by hand: `clock.advance(minutes=61)`."""

    class Clock:
        now = timezone.now()

        def advance(self, **delta) -> None:
            self.now += dt.timedelta(**delta)

    fixed = Clock()
    monkeypatch.setattr(timezone, "now", lambda: fixed.now)
    return fixed


def test_recipients_are_the_owner_and_the_team_leads(alice, bob, charlie):
    other_lead = get_user_model().objects.create_user("dana", "dana@example.com", "x")
    set_role(other_lead, "teamlead")
    gone = get_user_model().objects.create_user("eve", "eve@example.com", "x", is_active=False)
    set_role(gone, "teamlead")
    inst = make_instance(alice)
    assert [u.username for u in recipients(inst)] == ["alice", "bob", "dana"]


def test_it_stores_and_mails_the_first_at_once(alice, bob, django_capture_on_commit_callbacks):
    inst = make_instance(alice)
    with django_capture_on_commit_callbacks(execute=True):
        made = _notify(inst, [alice, bob, alice])
    assert len(made) == 2 and Notification.objects.count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    body = mail.outbox[0].body
    assert "Contoso needs re-authentication." in body and f"/instances/{inst.pk}/" in body


def test_it_folds_repeats_into_one_entry_with_a_count(alice, alice_client, clock):
    inst = make_instance(alice)
    _notify(inst, [alice], message="First")
    clock.advance(minutes=5)
    _notify(inst, [alice], message="Second")
    clock.advance(minutes=5)
    (note,) = _notify(inst, [alice], message="Third")
    assert Notification.objects.count() == 1
    assert note.count == 3 and note.message == "Third" and note.latest_at == clock.now
    page = alice_client.get("/notifications/").content.decode()
    assert '<span class="bell-count">1</span>' in page and "×3" in page and "Third" in page


def test_reading_starts_the_count_afresh(alice, alice_client):
    inst = make_instance(alice)
    _notify(inst, [alice])
    (note,) = _notify(inst, [alice])
    alice_client.post(f"/notifications/{note.pk}/read/")
    (note,) = _notify(inst, [alice])
    assert note.count == 1 and note.read_at is None


def test_the_rest_of_the_hour_comes_as_one_digest_per_kind(alice, django_capture_on_commit_callbacks, clock):
    first, second, third = (make_instance(alice, name=n) for n in ("wingtip", "fabrikam", "contoso"))
    with django_capture_on_commit_callbacks(execute=True):
        _notify(first, [alice], message="wingtip failed its health check.", kind="health_failing")
    assert [m.subject for m in mail.outbox] == ["[CRM Setup Portal] wingtip failed its health check."]

    clock.advance(minutes=10)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(second, [alice], message="fabrikam failed its health check.", kind="health_failing")
        _notify(third, [alice], message="contoso failed its health check.", kind="health_failing")
        _notify(third, [alice], message="contoso failed its health check.", kind="health_failing")
        _notify(third, [alice], message="contoso needs re-authentication.")  # another kind: its own hour
    assert len(mail.outbox) == 2 and mail.outbox[1].subject == "[CRM Setup Portal] contoso needs re-authentication."

    clock.advance(minutes=40)
    assert send_digests() == 0  # the hour since the first e-mail is not up
    clock.advance(minutes=11)
    assert send_notification_digests() == 1
    digest = mail.outbox[2]
    assert digest.subject == "[CRM Setup Portal] Health check failing: 2 instances"
    assert "fabrikam failed its health check." in digest.body
    assert "contoso failed its health check. (2 times)" in digest.body and "wingtip" not in digest.body
    assert send_digests() == 0 and len(mail.outbox) == 3  # nothing is e-mailed twice

    clock.advance(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(first, [alice], message="wingtip failed again.", kind="health_failing")
    assert len(mail.outbox) == 3  # the digest was the hour's e-mail: this one waits for the next
    clock.advance(minutes=56)
    assert send_digests() == 1 and "wingtip failed again." in mail.outbox[3].body


def test_an_entry_read_in_the_portal_is_not_mailed_later(alice, alice_client, django_capture_on_commit_callbacks,
                                                         clock):
    first, second = make_instance(alice), make_instance(alice)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(first, [alice])
        _notify(second, [alice])
    assert len(mail.outbox) == 1
    alice_client.post("/notifications/read-all/")
    clock.advance(hours=2)
    assert send_digests() == 0 and len(mail.outbox) == 1


def test_the_bell_counts_entries_with_one_query(alice, alice_client):
    inst = make_instance(alice)
    _notify(inst, [alice])
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
    _notify(inst, [alice], message="Other", kind="health_failing")
    resp = alice_client.post("/notifications/read-all/", follow=True)
    assert "Marked 2 notifications read." in resp.content.decode()
    assert not Notification.objects.filter(read_at=None).exists()


def test_it_filters_by_instance_and_kind_and_marks_only_those_read(alice, alice_client):
    wingtip, fabrikam = make_instance(alice, name="wingtip"), make_instance(alice, name="fabrikam")
    _notify(wingtip, [alice], message="wingtip needs re-authentication.")
    _notify(wingtip, [alice], message="wingtip failed its health check.", kind="health_failing")
    _notify(fabrikam, [alice], message="fabrikam failed its health check.", kind="health_failing")

    page = alice_client.get("/notifications/", {"instance": str(wingtip.pk)}).content.decode()
    assert "wingtip needs re-authentication." in page and "wingtip failed" in page and "fabrikam failed" not in page
    page = alice_client.get("/notifications/", {"kind": "health_failing"}).content.decode()
    assert "wingtip failed" in page and "fabrikam failed" in page and "re-authentication." not in page
    assert "Mark these read" in page
    # Something not offered (another instance, nonsense) is no filter rather than an error.
    assert alice_client.get("/notifications/", {"instance": "nonsense", "kind": "<b>"}).status_code == 200

    resp = alice_client.post("/notifications/read-all/", {"instance": str(wingtip.pk), "kind": "health_failing"})
    assert resp.status_code == 302 and "kind=health_failing" in resp["Location"]
    unread = Notification.objects.filter(read_at=None).order_by("message").values_list("message", flat=True)
    assert list(unread) == ["fabrikam failed its health check.", "wingtip needs re-authentication."]


def test_a_muted_instance_tells_that_person_nothing_until_unmuted(alice, bob, alice_client,
                                                                  django_capture_on_commit_callbacks, clock):
    inst = make_instance(alice, name="wingtip")
    other = make_instance(alice, name="fabrikam")
    _notify(inst, [alice])
    resp = alice_client.post(f"/instances/{inst.pk}/notifications/mute/", {"next": "/notifications/"})
    assert resp.status_code == 302 and resp["Location"] == "/notifications/"
    assert not Notification.objects.filter(user=alice, read_at=None).exists()  # what she had is read

    clock.advance(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(inst, [alice, bob], message="wingtip failed its health check.", kind="health_failing")
        _notify(other, [alice], message="fabrikam failed its health check.", kind="health_failing")
    assert [m.to for m in mail.outbox] == [["bob@example.com"], ["alice@example.com"]]
    assert not Notification.objects.filter(user=alice, instance=inst, kind="health_failing").exists()
    page = alice_client.get("/notifications/").content.decode()
    assert "Muted instances" in page and "Unmute wingtip" in page

    alice_client.post(f"/instances/{inst.pk}/notifications/unmute/", {"next": "https://elsewhere.example/"})
    assert not InstanceMute.objects.exists()
    clock.advance(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(inst, [alice], message="wingtip failed again.", kind="health_failing")
    assert mail.outbox[-1].to == ["alice@example.com"] and "wingtip failed again." in mail.outbox[-1].subject


def test_the_instance_page_mutes_and_unmutes(alice, alice_client):
    inst = make_instance(alice, name="wingtip")
    url = f"/instances/{inst.pk}/"
    assert "Mute notifications" in alice_client.get(url).content.decode()
    resp = alice_client.post(f"/instances/{inst.pk}/notifications/mute/", {"next": url})
    assert resp["Location"] == url
    assert "Unmute notifications" in alice_client.get(url).content.decode()
    alice_client.post(f"/instances/{inst.pk}/notifications/mute/", {"next": url})  # muted already: no change
    assert alice_client.get(f"/instances/{inst.pk}/notifications/mute/").status_code == 405
    for elsewhere in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        resp = alice_client.post(f"/instances/{inst.pk}/notifications/unmute/", {"next": elsewhere})
        assert resp["Location"] == url
    verbs = AuditEvent.objects.filter(target_id=str(inst.pk), actor=alice).values_list("verb", flat=True)
    assert sorted(verbs) == ["instance.notifications_muted", "instance.notifications_unmuted"]


def test_a_seeded_instance_notifies_nobody(alice, django_capture_on_commit_callbacks):
    inst = make_instance(alice, seeded=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert _notify(inst, [alice]) == []
    assert not Notification.objects.exists() and mail.outbox == []


def test_beat_sends_the_digests():
    entry = app.conf.beat_schedule["events-notification-digests"]
    assert entry["task"] == send_notification_digests.name and entry["schedule"] <= 600


FILTER = {"instance": fuzz.huge_or_hostile, "kind": fuzz.huge_or_hostile, "page": fuzz.hostile_text,
          "next": fuzz.huge_or_hostile}


def test_no_filter_or_mute_gives_a_500_nor_leaves_the_portal(alice, alice_client):
    inst = make_instance(alice, name="wingtip")
    _notify(inst, [alice])

    @fuzz.fuzz(40)
    @given(data=fuzz.form_data(FILTER))
    def check(data):
        fuzz.assert_answered(fuzz.get(alice_client, "/notifications/", data))
        fuzz.assert_answered(fuzz.post(alice_client, "/notifications/read-all/", data))
        for verb in ("mute", "unmute"):
            response = fuzz.post(alice_client, f"/instances/{inst.pk}/notifications/{verb}/", data)
            fuzz.assert_answered(response)
            assert response.status_code != 302 or response["Location"].startswith("/")

    check()
