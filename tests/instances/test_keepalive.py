"""Keep-alive: batches, token refresh (and its race), health transitions, expiry reminders."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.instances import keepalive
from setup_portal.instances.models import HealthCheck, Instance
from setup_portal.instances.tasks import plan_health_checks, plan_secret_reminders

from .factories import make_instance, sandbox_oauth_instance, sandbox_s2s_instance

# Batches ------------------------------------------------------------------------------------------

def test_batches_walk_every_due_instance_once_by_key(alice):
    live = {str(make_instance(alice).pk) for _ in range(25)}
    make_instance(alice, status=Instance.Status.DISABLED)
    make_instance(alice, status=Instance.Status.DELETED)
    batches = list(keepalive.id_batches(keepalive.due_for_health_check(), size=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    flat = [i for b in batches for i in b]
    assert set(flat) == live and flat == sorted(flat, key=lambda i: Instance.objects.get(pk=i).pk)


def test_only_tokens_close_to_expiry_are_refreshed(alice):
    stale = make_instance(alice, access_token_expires_at=timezone.now() + dt.timedelta(minutes=3))
    make_instance(alice, access_token_expires_at=timezone.now() + dt.timedelta(minutes=50))
    make_instance(alice, status=Instance.Status.DISABLED, access_token_expires_at=timezone.now())
    assert list(keepalive.due_for_refresh()) == [stale]


# Reminders ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("days_left", "sent", "due"), [
    (45, [], None), (30, [], 30), (29, [30], None), (7, [30], 7), (5, [], 7), (1, [30, 7], 1), (0, [30, 7], 1),
    (0, [30, 7, 1], None),
])
def test_which_reminder_is_due(days_left, sent, due):
    today = dt.date(2026, 3, 1)
    assert keepalive.reminder_due(today + dt.timedelta(days=days_left), sent, today) == due


def test_reminders_go_to_the_owner_and_team_leads_once_each(alice, bob, charlie):
    today = timezone.localdate()
    inst = make_instance(alice, name="contoso-emea", secret_expires_on=today + dt.timedelta(days=30))
    ids = [str(inst.pk)]

    assert keepalive.send_secret_reminders(ids, today=today) == 1
    assert keepalive.send_secret_reminders(ids, today=today) == 0
    assert keepalive.send_secret_reminders(ids, today=today + dt.timedelta(days=1)) == 0
    (message,) = mail.outbox
    assert sorted(message.to) == ["alice@example.com", "bob@example.com"]
    assert "contoso-emea" in message.subject and "in 30 days" in message.subject
    assert f"/instances/{inst.pk}/rotate-secret/" in message.body and inst.client_secret not in message.body

    keepalive.send_secret_reminders(ids, today=today + dt.timedelta(days=23))  # 7 days left
    keepalive.send_secret_reminders(ids, today=today + dt.timedelta(days=29))  # 1 day left
    keepalive.send_secret_reminders(ids, today=today + dt.timedelta(days=29))
    assert [("7-day" in m.body, "1-day" in m.body) for m in mail.outbox[1:]] == [(True, False), (False, True)]
    inst.refresh_from_db()
    assert inst.reminders_sent == {inst.secret_expires_on.isoformat(): [30, 7, 1]}
    assert AuditEvent.objects.filter(verb="instance.secret_reminder_sent").count() == 3


def test_a_late_start_sends_only_the_nearest_reminder(alice, bob):
    today = timezone.localdate()
    inst = make_instance(alice, secret_expires_on=today + dt.timedelta(days=4))
    keepalive.send_secret_reminders([str(inst.pk)], today=today)
    keepalive.send_secret_reminders([str(inst.pk)], today=today)
    assert len(mail.outbox) == 1 and "7-day reminder" in mail.outbox[0].body


def test_disabled_and_far_off_instances_get_no_reminder(alice, bob):
    today = timezone.localdate()
    make_instance(alice, status=Instance.Status.DISABLED, secret_expires_on=today + dt.timedelta(days=2))
    make_instance(alice, secret_expires_on=today + dt.timedelta(days=90))
    assert not keepalive.due_for_reminder(today).exists()


def _mails() -> list[str]:
    folder = Path(settings.EMAIL_FILE_PATH)
    return [p.read_text() for p in folder.glob("*.log")] if folder.exists() else []


def test_the_worker_sends_reminders_once(celery_worker, alice, bob):
    before = len(_mails())
    inst = make_instance(alice, name="wingtip-uk", secret_expires_on=timezone.localdate() + dt.timedelta(days=6))
    plan_secret_reminders.delay()
    deadline = time.monotonic() + 30
    while len(_mails()) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    plan_secret_reminders.delay()
    time.sleep(2)  # a second run, which must find nothing left to send
    new = [m for m in _mails() if "wingtip-uk" in m]
    assert len(new) == 1, celery_worker.log()[-3000:]
    assert "alice@example.com" in new[0] and "bob@example.com" in new[0]
    inst.refresh_from_db()
    assert inst.reminders_sent == {inst.secret_expires_on.isoformat(): [30, 7]}


# Health checks against the sandbox -------------------------------------------------------------

def test_a_working_instance_is_healthy(alice, clean_sandbox):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info, health=Instance.Health.FAILING)
    check = keepalive.check_health(str(inst.pk))
    assert check.ok and check.duration_ms is not None
    inst.refresh_from_db()
    assert inst.health == Instance.Health.HEALTHY and inst.health_checked_at == check.checked_at
    assert AuditEvent.objects.get(verb="instance.health_changed").data == {"from": "failing", "to": "healthy",
                                                                           "error_code": ""}


def test_an_expired_secret_moves_the_instance_to_needs_reauth(alice, clean_sandbox):
    info = clean_sandbox.info
    inst = sandbox_s2s_instance(alice, info, client_secret=info["expired_client_secret"])
    check = keepalive.check_health(str(inst.pk))
    assert not check.ok and check.error_code == "AADSTS7000222"
    inst.refresh_from_db()
    assert (inst.status, inst.health, inst.status_code) == ("needs_reauth", "failing", "AADSTS7000222")
    assert "past its expiry date" in inst.status_detail
    event = AuditEvent.objects.get(verb="instance.status_changed")
    assert event.actor_label == "system" and event.data["to"] == "needs_reauth"


def test_a_dataverse_outage_marks_health_failing_but_keeps_the_status(alice, clean_sandbox):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info)
    clean_sandbox.faults(endpoint="whoami", status=503, times=5)
    check = keepalive.check_health(str(inst.pk))
    assert not check.ok and "503" in check.detail
    assert check.error_code == "http_503"  # the catalogue's code: the page says what to do
    inst.refresh_from_db()
    assert (inst.status, inst.health) == ("ready", "failing")
    clean_sandbox.clear_faults()
    assert keepalive.check_health(str(inst.pk)).ok
    assert Instance.objects.get(pk=inst.pk).health == "healthy"


def test_an_expired_refresh_token_moves_the_instance_to_needs_reauth(alice, clean_sandbox):
    clean_sandbox.reset()
    inst = sandbox_oauth_instance(alice, clean_sandbox, access_token_expires_at=timezone.now())
    assert clean_sandbox.expire_refresh_tokens(client_id=clean_sandbox.info["client_id"]) >= 1
    assert keepalive.refresh_token(str(inst.pk)) == "needs_reauth"
    inst.refresh_from_db()
    assert inst.status == "needs_reauth" and inst.status_code == "AADSTS700082"
    # Needs-reauth instances are left alone by keep-alive until someone signs in again.
    assert keepalive.refresh_token(str(inst.pk)) == "skipped"


def test_refresh_skips_disabled_instances(alice, clean_sandbox):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info, status=Instance.Status.DISABLED)
    assert keepalive.refresh_token(str(inst.pk)) == "skipped"
    assert keepalive.check_health(str(inst.pk)) is not None  # an explicit check still runs


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_rotate_the_refresh_token_once(alice, sandbox, monkeypatch):
    sandbox.clear_faults()
    inst = sandbox_oauth_instance(alice, sandbox, access_token_expires_at=timezone.now())
    before = Instance.objects.get(pk=inst.pk).token_cache

    grants: list[str] = []
    real_send = requests.Session.send

    def counting_send(self, request, **kwargs):
        # Pass-through: the real sandbox answers; we only count refresh-token grants.
        body = request.body or b""
        body = body.decode() if isinstance(body, bytes) else body
        if request.method == "POST" and "grant_type=refresh_token" in body:
            grants.append(request.url)
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", counting_send)
    start, results = threading.Barrier(2), []

    def refresh():
        try:
            start.wait()
            results.append(keepalive.refresh_token(str(inst.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(results) == ["fresh", "refreshed"]
    assert len(grants) == 1
    inst.refresh_from_db()
    assert inst.token_cache != before and inst.access_token_expires_at > timezone.now() + keepalive.REFRESH_AHEAD


def test_the_beat_planner_checks_health_through_the_worker(sandbox, celery_worker, alice):
    sandbox.clear_faults()
    live = sandbox_s2s_instance(alice, sandbox.info)
    disabled = sandbox_s2s_instance(alice, sandbox.info, status=Instance.Status.DISABLED)
    plan_health_checks.delay()
    deadline = time.monotonic() + 30
    while not HealthCheck.objects.filter(instance=live).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert HealthCheck.objects.get(instance=live).ok, celery_worker.log()[-3000:]
    assert not HealthCheck.objects.filter(instance=disabled).exists()
    assert Instance.objects.get(pk=live.pk).health == "healthy"


# The Dynamics URL guard: keep-alive calls only what provisioning would call --------------------------

def _tripwire(sandbox) -> None:
    """A fault any request to the sandbox would use up: still listed afterwards means nothing was called."""
    sandbox.faults(endpoint="*", latency_ms=1, times=1)


def _tripwire_intact(sandbox) -> bool:
    return sandbox.admin("GET", "faults")["faults"] != []


@pytest.mark.parametrize("dynamics_url", ["https://contoso.example.com", "https://169.254.169.254/latest",
                                          "https://contoso.crm.dynamics.com.example.net"])
def test_it_does_not_call_a_host_that_is_not_dynamics(dynamics_url, alice, clean_sandbox):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info, dynamics_url=dynamics_url)
    _tripwire(clean_sandbox)
    check = keepalive.check_health(str(inst.pk))
    assert _tripwire_intact(clean_sandbox), "keep-alive asked for a token for a host that is not allowed"
    assert not check.ok and check.error_code == "invalid_dynamics_url"
    inst.refresh_from_db()
    assert inst.health == Instance.Health.FAILING and inst.status == Instance.Status.READY
    assert inst.health_detail.startswith("The Dynamics CRM URL is not allowed")
    assert "Keep-alive did not call it." in inst.health_detail


def test_it_does_not_call_the_sandbox_once_it_is_switched_off(alice, clean_sandbox, settings):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info)
    settings.SANDBOX_ENABLED = False
    _tripwire(clean_sandbox)
    check = keepalive.check_health(str(inst.pk))
    assert _tripwire_intact(clean_sandbox)
    assert not check.ok and check.error_code == "sandbox_disabled"
    assert check.detail.startswith("The sandbox tenant is switched off: This instance uses the sandbox tenant")
    settings.SANDBOX_ENABLED = True
    clean_sandbox.clear_faults()
    assert keepalive.check_health(str(inst.pk)).ok, "the next check recovers once the sandbox is back"
