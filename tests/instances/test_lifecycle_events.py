"""Lifecycle events: every state change that matters emits one instance.* event, without secrets."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from setup_portal.events.forms import LIFECYCLE_CHOICES
from setup_portal.events.models import Event, LifecycleType, default_lifecycle_types
from setup_portal.instances import keepalive, lifecycle, state
from setup_portal.instances.models import Instance, ProvisioningJob
from tests.instances.factories import SECRET, make_instance, sandbox_s2s_instance


def _types(inst) -> list[str]:
    return list(Event.objects.filter(instance=inst).order_by("sequence").values_list("type", flat=True))


def _url(name: str, inst) -> str:
    return reverse(f"instances:{name}", args=[inst.pk])


@pytest.fixture
def inst(alice):
    return make_instance(alice, name="contoso-crm")


def test_it_emits_disabled_then_enabled_from_the_instance_page(alice_client, inst):
    alice_client.post(_url("disable", inst), {"confirmed": "yes", "reason": "Contract paused"})
    alice_client.post(_url("enable", inst), {"confirmed": "yes"})
    assert _types(inst) == ["instance.disabled", "instance.enabled"]
    disabled, enabled = Event.objects.filter(instance=inst).order_by("sequence")
    assert disabled.data["reason"] == "Contract paused" and disabled.data["from"] == "ready"
    assert enabled.data["to"] == "ready" and enabled.data["instance"]["name"] == "contoso-crm"
    assert disabled.sequence < enabled.sequence


def test_it_emits_review_changed_when_a_team_lead_decides(bob_client, inst):
    bob_client.post(_url("request_changes", inst), {"comment": "Use the EU region"})
    bob_client.post(_url("approve", inst), {"comment": ""})
    assert _types(inst) == ["instance.review_changed", "instance.review_changed"]
    first = Event.objects.filter(instance=inst).order_by("sequence").first()
    assert first.data["from"] == "pending" and first.data["to"] == "changes_requested"
    assert first.data["comment"] == "Use the EU region" and first.data["reviewed_by"] == "bob"


def test_it_emits_deleted_with_the_name_the_instance_had_and_no_secrets(alice_client, inst):
    alice_client.post(_url("delete", inst), {"confirm_name": "contoso-crm"})
    event = Event.objects.get(instance=inst)
    assert event.type == "instance.deleted" and event.data["instance"]["name"] == "contoso-crm"
    text = json.dumps(event.data)
    assert SECRET not in text and "secret" not in text.lower() and "token" not in text.lower()


def test_it_emits_ready_and_failed_when_provisioning_ends(alice):
    inst = make_instance(alice, status=Instance.Status.PROVISIONING)
    job = ProvisioningJob.objects.create(instance=inst)
    state.mark_provisioning_failed(job, step="whoami", step_label="Check the connection", error_code="http_503",
                                   detail="Service unavailable", acting_user=None)
    inst.refresh_from_db()
    state.transition(inst, "job.retried", acting_user=None, status=Instance.Status.PROVISIONING)  # a retry
    state.mark_ready(job, acting_user=None)
    assert _types(inst) == ["instance.failed", "instance.ready"]
    failed = Event.objects.get(instance=inst, type="instance.failed")
    assert failed.data["code"] == "http_503" and "Service unavailable" in failed.data["reason"]


def test_it_emits_health_events_only_when_health_changes(alice, clean_sandbox):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info, health=Instance.Health.HEALTHY)
    clean_sandbox.faults(endpoint="whoami", status=503, times=10)
    keepalive.check_health(str(inst.pk))
    keepalive.check_health(str(inst.pk))  # still failing: no second event
    clean_sandbox.clear_faults()
    keepalive.check_health(str(inst.pk))
    assert _types(inst) == ["instance.health_failing", "instance.health_recovered"]



def test_it_emits_health_failing_and_needs_reauth_for_an_expired_secret_without_it(alice, clean_sandbox):
    info = clean_sandbox.info
    inst = sandbox_s2s_instance(alice, info, health=Instance.Health.HEALTHY,
                                client_secret=info["expired_client_secret"])
    keepalive.check_health(str(inst.pk))
    assert _types(inst) == ["instance.health_failing", "instance.needs_reauth"]
    reauth = Event.objects.get(instance=inst, type="instance.needs_reauth")
    assert reauth.data["code"] == "AADSTS7000222" and info["expired_client_secret"] not in json.dumps(reauth.data)


def test_it_notifies_the_owner_and_team_leads_of_needs_reauth_and_health_failing(alice, bob, charlie, clean_sandbox,
                                                                          django_capture_on_commit_callbacks):
    notifications = pytest.importorskip("setup_portal.events.notifications")  # webhook delivery's module
    inst = sandbox_s2s_instance(alice, clean_sandbox.info, health=Instance.Health.HEALTHY,
                                client_secret=clean_sandbox.info["expired_client_secret"])
    with django_capture_on_commit_callbacks(execute=True):
        keepalive.check_health(str(inst.pk))
    kinds = sorted(notifications.Notification.objects.filter(instance=inst).values_list("user__username", "kind"))
    assert kinds == [("alice", "health_failing"), ("alice", "needs_reauth"), ("bob", "health_failing"),
                     ("bob", "needs_reauth")]
    link = notifications.Notification.objects.filter(instance=inst).first().link
    assert link == _url("detail", inst)


def test_it_emits_secret_expiring_once_per_reminder(alice):
    inst = make_instance(alice, secret_expires_on=timezone.localdate() + dt.timedelta(days=6))
    keepalive.send_secret_reminders([str(inst.pk)])
    keepalive.send_secret_reminders([str(inst.pk)])
    event = Event.objects.get(instance=inst)
    assert event.type == "instance.secret_expiring"
    assert (event.data["reminder_days"], event.data["days_left"]) == (7, 6)
    assert SECRET not in json.dumps(event.data)
    keepalive.send_secret_reminders([str(inst.pk)], today=timezone.localdate() + dt.timedelta(days=5))
    assert [e.data["reminder_days"] for e in Event.objects.filter(instance=inst)] == [7, 1]


def test_it_emits_nothing_for_a_change_that_is_not_a_lifecycle_event(alice_client, inst):
    alice_client.post(_url("enable", inst), {"confirmed": "yes"})  # refused: not disabled
    state.transition(inst, "instance.updated", acting_user=None)
    assert _types(inst) == []


def test_every_list_of_lifecycle_types_comes_from_the_one_enum():
    assert [value for value, _ in LIFECYCLE_CHOICES] == LifecycleType.values == default_lifecycle_types()
    assert LIFECYCLE_CHOICES[0] == ("instance.ready", "Ready (provisioned) (instance.ready)")
    assert set(lifecycle.NOTIFY) <= set(LifecycleType.values)
