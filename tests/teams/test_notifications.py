"""Who hears about an instance: its owner and its team's team leads; the team leads are also told
when one of their team's instances waits for review, the owner when a team lead asks for changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from setup_portal.events.models import InstanceMute, Notification, NotificationMail
from setup_portal.events.notifications import notify, recipients, send_digests
from setup_portal.instances import state
from setup_portal.instances.models import Instance, ProvisioningJob
from setup_portal.instances.notifications import send_resubmitted_notice
from setup_portal.teams.models import Membership
from setup_portal.teams.roles import set_role
from tests.conftest import _make_user
from tests.instances.factories import make_instance

pytestmark = pytest.mark.django_db


def test_recipients_are_the_owner_and_the_instances_team_leads(a, b):
    set_role(b.lead, "teamlead", a.team)  # a lead of both teams hears about both
    assert [u.username for u in recipients(a.instance)] == ["admin_a", "lead_a", "lead_b"]
    assert [u.username for u in recipients(b.instance)] == ["admin_b", "lead_b"]


def test_needs_reauth_tells_only_the_instances_team(a, b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        state.mark_needs_reauth(a.instance.pk, code="AADSTS700082", acting_user=None)
    told = sorted(Notification.objects.values_list("user__username", flat=True))
    assert told == ["admin_a", "lead_a"]
    assert sorted(m.to[0] for m in mail.outbox) == ["admin_a@example.com", "lead_a@example.com"]


def test_the_team_leads_are_told_when_an_instance_is_ready_for_review(a, b, django_capture_on_commit_callbacks):
    inst = make_instance(a.admin, team=a.team, status=Instance.Status.PROVISIONING)
    job = ProvisioningJob.objects.create(instance=inst)
    with django_capture_on_commit_callbacks(execute=True):
        state.mark_ready(job, acting_user=None)
    notes = Notification.objects.filter(kind="review_waiting")
    assert [(n.user.username, n.instance_id) for n in notes] == [("lead_a", inst.pk)]
    assert "waits for your review" in notes[0].message and notes[0].link == f"/instances/{inst.pk}/"
    assert [m.to for m in mail.outbox] == [["lead_a@example.com"]]
    assert "Review it here" in mail.outbox[0].body


def test_a_resubmission_e_mails_the_team_lead_who_asked_once(a, client_of, django_user_model,
                                                             django_capture_on_commit_callbacks):
    other_lead = _make_user(django_user_model, "lead_a2", None)
    set_role(other_lead, "teamlead", a.team)
    lead, admin = client_of(a.lead), client_of(a.admin)
    lead.post(f"/instances/{a.instance.pk}/request-changes/", {"comment": "Add the sales tag."})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/instances/{a.instance.pk}/edit/",
                              {"name": a.instance.name, "tags": "sales", "polling_interval_minutes": 15,
                               "filter_nulls": "on"})
    assert response.status_code == 302
    assert Instance.objects.get(pk=a.instance.pk).review_state == Instance.Review.RESUBMITTED
    # The other team leads: told here; the one who asked: by the worker's notice, with what changed.
    note = Notification.objects.get(kind="review_waiting")
    assert note.user == other_lead and "again" in note.message
    with django_capture_on_commit_callbacks(execute=True):
        assert send_resubmitted_notice(str(a.instance.pk), {"tags": {"from": [], "to": ["sales"]}})
    assert sorted(m.to[0] for m in mail.outbox) == ["lead_a2@example.com", "lead_a@example.com"]
    (asked,) = [m for m in mail.outbox if m.to == ["lead_a@example.com"]]
    assert "team-a-crm was changed and is back for your review" in asked.subject
    assert "Add the sales tag." in asked.body and "Tags: - -> sales" in asked.body
    assert Notification.objects.get(user=a.lead, kind="review_waiting").instance_id == a.instance.pk


def test_the_owner_is_told_when_changes_are_requested(a, client_of, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(a.lead).post(f"/instances/{a.instance.pk}/request-changes/",
                                          {"comment": "Add the sales tag."})
    assert response.status_code == 302
    note = Notification.objects.get(kind="changes_requested")
    assert note.user == a.admin and note.message == "lead_a asked for changes to team-a-crm."
    assert [m.to for m in mail.outbox] == [["admin_a@example.com"]]
    assert "Add the sales tag." in mail.outbox[0].body and "Edit it here" in mail.outbox[0].body


def test_nobody_mutes_an_instance_they_cannot_see(a, b, client_of):
    assert client_of(b.admin).post(f"/instances/{a.instance.pk}/notifications/mute/").status_code == 404
    assert not InstanceMute.objects.exists()


def test_nobody_is_told_of_a_review_once_it_is_reviewed(a, django_capture_on_commit_callbacks):
    inst = make_instance(a.admin, team=a.team, status=Instance.Status.PROVISIONING,
                         review_state=Instance.Review.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        state.mark_ready(ProvisioningJob.objects.create(instance=inst), acting_user=None)
    assert not Notification.objects.filter(kind="review_waiting").exists()


def test_a_digest_leaves_out_the_instances_of_a_team_they_left(a, django_capture_on_commit_callbacks):
    second = make_instance(a.admin, team=a.team, name="team-a-second")
    with django_capture_on_commit_callbacks(execute=True):
        for inst in (a.instance, second):
            notify([a.lead], instance=inst, kind="health_failing", message=f"{inst.name} failed.", link="/")
    assert len(mail.outbox) == 1  # the first at once; the second waits for the digest
    Membership.objects.filter(user=a.lead, team=a.team).delete()
    NotificationMail.objects.update(sent_at=timezone.now() - dt.timedelta(hours=2))
    assert send_digests() == 0 and len(mail.outbox) == 1
    assert not Notification.objects.filter(unmailed__gt=0).exists()
