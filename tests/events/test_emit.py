"""emit_event: one event per dedupe key, a per-instance sequence, and a delivery only where one is wanted."""

from __future__ import annotations

import threading

from django.db import connection

from setup_portal.events.actions import emit_event
from setup_portal.events.models import Delivery, Event, WebhookEndpoint
from tests.instances.factories import make_instance


def test_it_numbers_events_per_instance(alice):
    one, two = make_instance(alice), make_instance(alice)
    a = emit_event(one, "crm.accounts.created", {"id": "a"})
    b = emit_event(two, "crm.accounts.created", {"id": "b"})
    c = emit_event(one, "crm.accounts.updated", {"id": "a"})
    assert (a.sequence, c.sequence, b.sequence) == (1, 2, 1)
    assert a.id.startswith("msg_") and len(a.id) == 30 and a.id != c.id


def test_it_makes_no_second_event_for_a_repeated_dedupe_key(alice):
    inst = make_instance(alice)
    first = emit_event(inst, "crm.accounts.created", {"id": "a"}, dedupe_key="accounts:a:7")
    assert emit_event(inst, "crm.accounts.created", {"id": "a"}, dedupe_key="accounts:a:7") is None
    assert list(Event.objects.filter(instance=inst)) == [first]
    # The same key on another instance is another event.
    assert emit_event(make_instance(alice), "crm.accounts.created", {}, dedupe_key="accounts:a:7") is not None


def test_it_makes_a_delivery_only_for_an_enabled_endpoint_that_wants_the_type(
        alice, django_capture_on_commit_callbacks):
    inst = make_instance(alice)
    assert emit_event(inst, "instance.ready", {}) and not Delivery.objects.exists()  # no endpoint
    endpoint = WebhookEndpoint.objects.create(instance=inst, url="https://hooks.example.com/in",
                                              lifecycle_types=["instance.ready"])
    emit_event(inst, "instance.ready", {})
    assert not Delivery.objects.exists()  # endpoint off
    endpoint.enabled = True
    endpoint.save()
    with django_capture_on_commit_callbacks() as queued:
        wanted = emit_event(inst, "instance.ready", {})
        skipped = emit_event(inst, "instance.disabled", {})  # not selected
        change = emit_event(inst, "crm.contacts.deleted", {"id": "x"})  # changes always go
    assert sorted(Delivery.objects.values_list("event_id", flat=True)) == sorted([wanted.id, change.id])
    assert skipped is not None and len(queued) == 2  # enqueued only once the transaction commits
    delivery = Delivery.objects.get(event=wanted)
    assert (delivery.status, delivery.attempts, delivery.endpoint) == ("pending", 0, endpoint)


def test_it_makes_one_event_per_key_and_distinct_sequences_for_concurrent_emitters(transactional_db, alice):
    inst = make_instance(alice)
    results, barrier = [], threading.Barrier(4)

    def emit(key: str) -> None:
        try:
            barrier.wait(10)
            results.append(emit_event(inst.pk, "crm.accounts.updated", {"k": key}, dedupe_key=key))
        finally:
            connection.close()

    threads = [threading.Thread(target=emit, args=(key,)) for key in ("same", "same", "other", "third")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    made = [r for r in results if r is not None]
    assert len(results) == 4 and len(made) == 3
    events = Event.objects.filter(instance=inst)
    assert sorted(events.values_list("dedupe_key", flat=True)) == ["other", "same", "third"]
    sequences = sorted(events.values_list("sequence", flat=True))
    assert len(set(sequences)) == 3 and sequences == sorted(sequences)
