"""Who hears about an instance: its owner and its team's team leads; the team leads are also told
when one of their team's instances waits for review."""

from __future__ import annotations

import pytest
from django.core import mail

from setup_portal.accounts.roles import set_role
from setup_portal.events.models import Notification
from setup_portal.events.notifications import recipients
from setup_portal.instances import state
from setup_portal.instances.models import Instance, ProvisioningJob
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


def test_the_team_leads_are_told_when_an_instance_is_resubmitted(a, client_of, django_capture_on_commit_callbacks):
    lead, admin = client_of(a.lead), client_of(a.admin)
    lead.post(f"/instances/{a.instance.pk}/request-changes/", {"comment": "Add the sales tag."})
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/instances/{a.instance.pk}/edit/",
                              {"name": a.instance.name, "tags": "sales", "polling_interval_minutes": 15,
                               "filter_nulls": "on"})
    assert response.status_code == 302
    assert Instance.objects.get(pk=a.instance.pk).review_state == Instance.Review.RESUBMITTED
    note = Notification.objects.get(kind="review_waiting")
    assert note.user == a.lead and "again" in note.message


def test_nobody_is_told_of_a_review_once_it_is_reviewed(a, django_capture_on_commit_callbacks):
    inst = make_instance(a.admin, team=a.team, status=Instance.Status.PROVISIONING,
                         review_state=Instance.Review.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        state.mark_ready(ProvisioningJob.objects.create(instance=inst), acting_user=None)
    assert not Notification.objects.filter(kind="review_waiting").exists()
