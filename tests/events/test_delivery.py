"""Webhook delivery against the sandbox's webhook inspector: signatures the receiving side verifies
with `standardwebhooks`, retries with backoff, order per record, rotation overlap, giving up,
disabling an endpoint that fails for days. Two tests run a real Celery worker; the others call
the task's body (`delivery.deliver`) in the test process."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook

from setup_portal.events import delivery, endpoints
from setup_portal.events.actions import emit_event
from setup_portal.events.models import Delivery, DeliveryAttempt, Event, Notification, WebhookEndpoint
from setup_portal.events.tasks import retry_due_deliveries
from tests.conftest import WorkerProcess
from tests.instances.factories import make_instance

S = Delivery.Status


def _bin_url(sandbox) -> str:
    return f"{sandbox.info['backchannel_base']}/_sandbox/webhooks/d{secrets.token_hex(6)}"


def _bin(sandbox, url: str) -> dict:
    return sandbox.admin("GET", url.split("/_sandbox/", 1)[1] + "?format=json")


def _configure(sandbox, url: str, **config) -> None:
    sandbox.admin("POST", url.split("/_sandbox/", 1)[1] + "/config", config)


def _endpoint(owner, sandbox, **fields) -> WebhookEndpoint:
    inst = make_instance(owner)
    values = {"enabled": True, "url": _bin_url(sandbox)}
    values.update(fields)
    return WebhookEndpoint.objects.create(instance=inst, **values)


def _emit(endpoint, type_: str, record: str = "", **data) -> Event:
    return emit_event(endpoint.instance, type_, data, record_key=f"accounts:{record}" if record else "")


def _delivery(event: Event) -> Delivery:
    return Delivery.objects.get(event=event)


def _make_due(d: Delivery) -> None:
    Delivery.objects.filter(pk=d.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def _wait(condition, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def webhook_worker(transactional_db, tmp_path, sandbox, clean_sandbox):
    """A real worker with retries shortened to half a second and attempts to two seconds."""
    from config.celery import app

    app.control.purge()
    worker = WorkerProcess(tmp_path / "worker.log", concurrency=2,
                           env={"WEBHOOK_RETRY_DELAYS": "0.5,0.5,0.5,0.5,0.5,0.5", "WEBHOOK_TIMEOUT_SECONDS": "2"})
    worker.start()
    yield worker
    worker.stop()


# --- with a real worker ----------------------------------------------------------------------
def test_it_delivers_events_whose_signatures_the_receiver_verifies(alice, sandbox, webhook_worker):
    endpoint = _endpoint(alice, sandbox)
    _configure(sandbox, endpoint.url, secret=endpoint.secret)
    events = [_emit(endpoint, "crm.accounts.created", "a1", name="Fourth Coffee"),
              _emit(endpoint, "instance.ready"), _emit(endpoint, "crm.contacts.deleted", "c1")]

    received = _wait(lambda: (b := _bin(sandbox, endpoint.url))["count"] == 3 and b["deliveries"], what="3 deliveries")
    assert {r["webhook_id"] for r in received} == {e.pk for e in events}
    assert all(r["verified"] is True for r in received), received
    for item in received:  # and verified here too, as a customer's receiver would
        headers = {"webhook-id": item["webhook_id"], "webhook-timestamp": item["timestamp"],
                   "webhook-signature": item["signature"]}
        payload = Webhook(endpoint.secret).verify(item["body"], headers)
        assert set(payload) == {"type", "timestamp", "data"}
    by_id = {r["webhook_id"]: json.loads(r["body"]) for r in received}
    assert by_id[events[0].pk]["data"] == {"name": "Fourth Coffee"}
    _wait(lambda: Delivery.objects.filter(status=S.SUCCEEDED).count() == 3, what="succeeded rows")
    attempt = DeliveryAttempt.objects.filter(delivery__event=events[0]).get()
    assert attempt.status_code == 200 and '"verified": true' in attempt.response_excerpt


def test_it_retries_a_failing_receiver_and_keeps_each_records_order(alice, sandbox, webhook_worker):
    endpoint = _endpoint(alice, sandbox)
    _configure(sandbox, endpoint.url, secret=endpoint.secret, fail="500", times=4)
    plan = [("crm.accounts.created", "a1"), ("crm.accounts.updated", "a1"), ("crm.accounts.created", "b2"),
            ("crm.accounts.updated", "a1"), ("crm.accounts.updated", "b2"), ("crm.accounts.deleted", "a1")]
    events = [_emit(endpoint, type_, record, step=n) for n, (type_, record) in enumerate(plan)]

    _wait(lambda: Delivery.objects.filter(event__in=events, status=S.SUCCEEDED).count() == len(events),
          what="every delivery to succeed")
    arrivals = list(reversed(_bin(sandbox, endpoint.url)["deliveries"]))  # oldest first
    assert sum(1 for a in arrivals if a["answered"] == "500") == 4
    ok = [a for a in arrivals if a["answered"] == "200"]
    assert sorted(a["webhook_id"] for a in ok) == sorted(e.pk for e in events)  # nothing lost, nothing twice
    for record in ("a1", "b2"):
        steps = [json.loads(a["body"])["data"]["step"] for a in ok
                 if a["webhook_id"] in {e.pk for e in events if e.record_key == f"accounts:{record}"}]
        assert steps == sorted(steps), (record, steps)
    # An update is never even tried before its create succeeded.
    first_ok_create = next(i for i, a in enumerate(arrivals)
                           if a["webhook_id"] == events[0].pk and a["answered"] == "200")
    assert all(a["webhook_id"] != events[1].pk for a in arrivals[:first_ok_create])
    assert Delivery.objects.get(event=events[0]).attempts >= 2


# --- the task's body, in the test process --------------------------------------------------------
def test_it_signs_with_both_secrets_during_a_rotation(alice, sandbox, clean_sandbox, db):
    endpoint = _endpoint(alice, sandbox)
    old = endpoint.secret
    endpoint = endpoints.do_rotate_webhook_secret(endpoint.instance, acting_user=alice)
    assert endpoint.secret != old and endpoint.previous_secret == old
    for only in (old, endpoint.secret):
        _configure(sandbox, endpoint.url, secret=only)
        d = _delivery(_emit(endpoint, "instance.ready"))
        assert delivery.deliver(d.pk) == "succeeded"
        latest = _bin(sandbox, endpoint.url)["deliveries"][0]
        assert latest["verified"] is True and len(latest["signature"].split(" ")) == 2

    overlap_over = timezone.now() - dt.timedelta(seconds=1)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=overlap_over)
    _configure(sandbox, endpoint.url, secret=old)
    d = _delivery(_emit(endpoint, "instance.ready"))
    delivery.deliver(d.pk)
    latest = _bin(sandbox, endpoint.url)["deliveries"][0]
    assert latest["verified"] is False and len(latest["signature"].split(" ")) == 1


def test_it_waits_while_an_earlier_event_of_the_record_is_unfinished(alice, sandbox, clean_sandbox, db):
    endpoint = _endpoint(alice, sandbox)
    create = _delivery(_emit(endpoint, "crm.accounts.created", "a1"))
    update = _delivery(_emit(endpoint, "crm.accounts.updated", "a1"))
    other = _delivery(_emit(endpoint, "crm.accounts.updated", "zz"))
    assert delivery.deliver(update.pk) == "waiting"
    assert delivery.deliver(other.pk) == "succeeded"  # another record does not wait
    assert _bin(sandbox, endpoint.url)["count"] == 1
    update.refresh_from_db()
    assert update.status == S.PENDING and update.next_attempt_at > timezone.now() and not update.lease_owner
    assert delivery.deliver(create.pk) == "succeeded"
    _make_due(update)
    assert delivery.deliver(update.pk) == "succeeded"
    ids = [d["webhook_id"] for d in reversed(_bin(sandbox, endpoint.url)["deliveries"])]
    assert ids == [other.event_id, create.event_id, update.event_id]


def test_it_backs_off_then_gives_up(alice, sandbox, clean_sandbox, db, settings):
    settings.WEBHOOK_RETRY_DELAYS = [30, 120]
    endpoint = _endpoint(alice, sandbox)
    _configure(sandbox, endpoint.url, fail="500")
    d = _delivery(_emit(endpoint, "instance.ready"))
    assert delivery.deliver(d.pk) == "retry"
    d.refresh_from_db()
    assert d.status == S.FAILED and d.attempts == 1 and d.last_status_code == 500
    assert 23 <= (d.next_attempt_at - timezone.now()).total_seconds() <= 37  # 30 s ± 20 % jitter
    assert delivery.deliver(d.pk) == "not-claimed"  # not due yet
    _make_due(d)
    assert delivery.deliver(d.pk) == "retry"
    _make_due(d)
    assert delivery.deliver(d.pk) == "gave-up"
    d.refresh_from_db()
    assert d.status == S.GAVE_UP and d.attempts == 3 and d.next_attempt_at is None
    assert d.attempt_log.count() == 3 and all(a.status_code == 500 for a in d.attempt_log.all())


def test_it_records_a_timeout_and_the_guards_refusal(alice, sandbox, clean_sandbox, db, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint = _endpoint(alice, sandbox)
    _configure(sandbox, endpoint.url, fail="timeout", times=1, delay_ms=2500)
    d = _delivery(_emit(endpoint, "instance.ready"))
    assert delivery.deliver(d.pk) == "retry"
    attempt = d.attempt_log.get()
    assert attempt.status_code is None and "No answer within 1 s" in attempt.error and attempt.latency_ms < 2000

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="https://10.0.0.7/hooks")
    d2 = _delivery(_emit(endpoint, "instance.ready"))
    assert delivery.deliver(d2.pk) == "retry"
    assert "private address" in d2.attempt_log.get().error


def test_it_disables_an_endpoint_failing_for_days_and_tells_its_people(
        alice, bob, sandbox, clean_sandbox, db, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 3
    endpoint = _endpoint(alice, sandbox)
    _configure(sandbox, endpoint.url, fail="500")
    d = _delivery(_emit(endpoint, "instance.ready"))
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver(d.pk)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is not None  # one failure: the clock starts

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - dt.timedelta(days=3, hours=1))
    _make_due(d)
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver(d.pk)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at and "3 days" in endpoint.disabled_reason
    notes = Notification.objects.filter(instance=endpoint.instance, kind="webhook_disabled")
    assert sorted(n.user.username for n in notes) == ["alice", "bob"]
    assert all(n.link == f"/instances/{endpoint.instance.pk}/events/" for n in notes)
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    # Nothing more is sent while it is off, and emit_event makes no new deliveries.
    _make_due(d)
    assert delivery.deliver(d.pk) == "skipped"
    assert _emit(endpoint, "instance.ready").deliveries.count() == 0


def test_it_is_reset_by_a_success(alice, sandbox, clean_sandbox, db):
    endpoint = _endpoint(alice, sandbox, failing_since=timezone.now() - dt.timedelta(days=1))
    assert delivery.deliver(_delivery(_emit(endpoint, "instance.ready")).pk) == "succeeded"
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_the_sweep_hands_out_due_retries_and_expired_leases(alice, sandbox, clean_sandbox, db):
    endpoint = _endpoint(alice, sandbox)
    due = _delivery(_emit(endpoint, "instance.ready"))
    later = _delivery(_emit(endpoint, "instance.ready"))
    stale = _delivery(_emit(endpoint, "instance.ready"))
    held = _delivery(_emit(endpoint, "instance.ready"))
    _make_due(due)
    Delivery.objects.filter(pk=later.pk).update(status=S.FAILED, next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    Delivery.objects.filter(pk=stale.pk).update(status=S.DELIVERING, lease_owner="dead",
                                                lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    Delivery.objects.filter(pk=held.pk).update(status=S.DELIVERING, lease_owner="alive",
                                               lease_expires_at=timezone.now() + dt.timedelta(seconds=60))
    fresh = _delivery(_emit(endpoint, "instance.ready"))  # queued as it was made: not swept yet
    lost = _delivery(_emit(endpoint, "instance.ready"))
    Delivery.objects.filter(pk=lost.pk).update(created_at=timezone.now() - dt.timedelta(minutes=2))
    assert set(delivery.due_delivery_ids()) == {due.pk, stale.pk, lost.pk}
    assert fresh.pk not in delivery.due_delivery_ids()
    assert retry_due_deliveries() == 3
    assert delivery.deliver(stale.pk) == "succeeded"  # the lease ran out: another worker may take it
