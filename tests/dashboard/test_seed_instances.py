"""seed_instances for a demo: its instances have made-up Dynamics URLs, so keep-alive leaves them
alone and nobody is told anything about them, whatever beat runs."""

from __future__ import annotations

import io

import pytest
from django.core import mail
from django.core.management import call_command

from config.celery import app
from setup_portal.audit.models import AuditEvent
from setup_portal.events.models import Notification
from setup_portal.events.tasks import send_notification_digests
from setup_portal.instances import keepalive, state, tasks
from setup_portal.instances.models import HealthCheck, Instance
from setup_portal.polling import poller as polling

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(monkeypatch):
    """Tasks run where they are queued, so a planner's batches run before it returns."""
    monkeypatch.setattr(app.conf, "task_always_eager", True)


def test_seeded_instances_are_never_checked_and_notify_nobody(eager, django_capture_on_commit_callbacks):
    call_command("seed_instances", "60", "--teams", "2", stdout=io.StringIO())
    seeded = Instance.objects.filter(seeded=True)
    assert seeded.count() == 60 and seeded.filter(status=Instance.Status.READY).exists()
    checks = HealthCheck.objects.count()
    ids = [str(pk) for pk in seeded.values_list("pk", flat=True)]

    with django_capture_on_commit_callbacks(execute=True):
        # What beat runs, then each batch task handed every seeded id, as a stale message would.
        assert tasks.plan_health_checks() == tasks.plan_token_refreshes() == tasks.plan_secret_reminders() == 0
        assert polling.plan_polls() == 0
        assert tasks.check_health_batch(ids) == 0
        assert set(tasks.refresh_tokens(ids)) == {"skipped"}
        assert tasks.send_secret_reminders(ids) == 0
        # A change of state on a seeded instance (someone disables one) tells nobody either.
        ready = seeded.filter(status=Instance.Status.READY).first()
        state.mark_needs_reauth(ready.pk, code="AADSTS700082", acting_user=None)
        send_notification_digests()

    assert HealthCheck.objects.count() == checks
    assert not keepalive.due_for_health_check().exists() and not keepalive.due_for_reminder().exists()
    assert Notification.objects.count() == 0 and mail.outbox == []


def test_a_seeded_instance_is_not_tested_from_its_page_either(alice, alice_client):
    call_command("seed_instances", "10", "--owner", "alice", stdout=io.StringIO())
    inst = Instance.objects.filter(seeded=True, status=Instance.Status.READY).first()
    checks = HealthCheck.objects.count()
    response = alice_client.post(f"/instances/{inst.pk}/test-connection/", {"confirmed": "yes"}, follow=True)
    assert "never checked against Dataverse" in response.content.decode()
    assert HealthCheck.objects.count() == checks
    assert not AuditEvent.objects.filter(verb="instance.health_check_requested").exists()
