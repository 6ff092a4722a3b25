"""Polling Dynamics for changes, against the real sandbox (change generator, limits, delta tokens)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from setup_portal.events.models import Event, PollState
from setup_portal.polling.poller import plan_polls, poll_instance
from tests.instances.factories import sandbox_s2s_instance


def _changes(sandbox, **plan) -> list[dict]:
    return sandbox.admin("POST", "dataverse/contoso/changes", plan)["changes"]


def _instance(alice, sandbox, **fields):
    values = {"polling_enabled": True, "polling_resources": ["accounts"], "polling_interval_minutes": 5}
    values.update(fields)
    return sandbox_s2s_instance(alice, sandbox.info, **values)


def _crm_events(inst) -> list[Event]:
    return list(Event.objects.filter(instance=inst, type__startswith="crm.").order_by("sequence"))


@pytest.fixture
def polling(alice, clean_sandbox, sandbox):
    inst = _instance(alice, sandbox)
    assert poll_instance(str(inst.pk)) == "polled"
    return inst


def test_it_takes_a_baseline_without_emitting_events(polling):
    state = PollState.objects.get(instance=polling, table="accounts")
    assert state.mode == "delta" and "$deltatoken=" in state.delta_link
    assert state.baseline_at and state.last_poll_at and state.next_poll_at > timezone.now()
    assert state.changes_found == 0 and not state.last_error_code
    assert _crm_events(polling) == []


def test_it_turns_generated_changes_into_events_in_order_per_record(polling, sandbox):
    made = _changes(sandbox, accounts={"create": 2, "update": 2, "delete": 1}, seed=21)
    made += _changes(sandbox, accounts={"update": 1}, seed=22)
    deleted = [c["id"] for c in made if c["op"] == "delete"]
    created = [c["id"] for c in made if c["op"] == "create" and c["id"] not in deleted]
    assert poll_instance(str(polling.pk)) == "polled"

    events = _crm_events(polling)
    by_type = {}
    for e in events:
        by_type.setdefault(e.type, []).append(e.data["id"])
    assert sorted(by_type["crm.accounts.created"]) == sorted(created)
    # A row created and deleted between two polls shows only as deleted (as Dataverse reports it).
    assert by_type["crm.accounts.deleted"] == deleted
    updated = {c["id"] for c in made if c["op"] == "update"} - set(created) - set(deleted)
    assert set(by_type.get("crm.accounts.updated", [])) == updated
    first = events[0]
    assert first.record_key == f"accounts:{first.data['id']}"
    assert first.data["record"]["id"] == first.data["id"] and "changed_at" in first.data
    assert all(v is not None for v in first.data["record"].values())  # the instance leaves nulls out
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)
    state = PollState.objects.get(instance=polling)
    assert state.changes_found == len(events) == state.total_changes

    # Nothing new: nothing emitted; an update of a created record comes after its create.
    assert poll_instance(str(polling.pk)) == "polled"
    assert len(_crm_events(polling)) == len(events)
    target = created[0]
    api = _api(sandbox)
    api(f"accounts({target})", {"telephone1": "555-0101"})
    assert poll_instance(str(polling.pk)) == "polled"
    record_events = [e for e in _crm_events(polling) if e.data["id"] == target]
    assert [e.type for e in record_events] == ["crm.accounts.created", "crm.accounts.updated"]
    assert record_events[-1].data["record"]["phone"] == "555-0101"


def _api(sandbox):
    """PATCH a row as the portal's application user (client credentials)."""
    info = sandbox.info
    app = sandbox.confidential_client(client_id=info["s2s_client_id"], client_credential=info["s2s_client_secret"])
    token = app.acquire_token_for_client([f"{info['dynamics_url']}/.default"])["access_token"]
    session = sandbox.session()

    def patch(path: str, body: dict) -> None:
        resp = session.patch(f"{info['dynamics_url']}/api/data/v9.2/{path}", json=body,
                             headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 204, resp.text

    return patch


def test_it_postpones_the_poll_by_a_429s_retry_after(polling, sandbox):
    sandbox.faults(endpoint="webapi", status=429, retry_after=120, times=1)
    before = timezone.now()
    assert poll_instance(str(polling.pk)) == "throttled"
    state = PollState.objects.get(instance=polling)
    assert state.last_error_code == "http_429" and "120" in state.last_error_detail
    assert state.next_poll_at >= before + timezone.timedelta(seconds=119)
    assert state.lease_owner == ""
    # The planner leaves it alone until then.
    assert plan_polls() == 0


def test_it_takes_a_new_baseline_when_the_delta_token_expired_and_says_so(polling, sandbox):
    sandbox.admin("POST", "dataverse/contoso/expire-delta-tokens")
    _changes(sandbox, accounts={"create": 1}, seed=31)
    old = PollState.objects.get(instance=polling).delta_link
    assert poll_instance(str(polling.pk)) == "polled"
    state = PollState.objects.get(instance=polling)
    assert state.delta_link != old and state.rebaselined_at is not None
    assert state.last_error_code == "delta_token_expired"
    assert _crm_events(polling) == []  # the new baseline floods nothing
    _changes(sandbox, accounts={"create": 1}, seed=32)
    assert poll_instance(str(polling.pk)) == "polled"
    assert [e.type for e in _crm_events(polling)] == ["crm.accounts.created"]
    assert PollState.objects.get(instance=polling).last_error_code == ""


def test_it_falls_back_to_a_modifiedon_watermark_without_change_tracking(alice, clean_sandbox, sandbox, settings):
    settings.EVENTS_WATERMARK_TABLES = ["accounts"]
    settings.EVENTS_WATERMARK_OVERLAP_SECONDS = 600
    inst = _instance(alice, sandbox)
    assert poll_instance(str(inst.pk)) == "polled"
    state = PollState.objects.get(instance=inst)
    assert state.mode == "watermark" and state.watermark and not state.delta_link
    assert _crm_events(inst) == []
    made = _changes(sandbox, accounts={"create": 2, "update": 1}, seed=41)
    assert poll_instance(str(inst.pk)) == "polled"
    events = _crm_events(inst)
    assert sorted(e.data["id"] for e in events if e.type == "crm.accounts.created") == sorted(
        c["id"] for c in made if c["op"] == "create")
    # The overlap reads the same rows again; de-duplication drops them.
    assert poll_instance(str(inst.pk)) == "polled"
    assert len(_crm_events(inst)) == len(events)
    assert PollState.objects.get(instance=inst).changes_found == 0


def test_it_hands_out_only_ready_instances_with_polling_on(alice, clean_sandbox, sandbox):
    due = _instance(alice, sandbox)
    _instance(alice, sandbox, polling_enabled=False)
    _instance(alice, sandbox, status="disabled")
    assert plan_polls() == 1
    assert set(PollState.objects.values_list("instance_id", flat=True)) == {due.pk}
    assert PollState.objects.get().lease_owner.startswith("ticket:")
    assert plan_polls() == 0  # handed out already: the lease holds it


def test_it_makes_no_duplicate_events_from_duplicate_poll_messages_in_the_worker(
        alice, sandbox, celery_worker):
    sandbox.clear_faults()
    inst = _instance(alice, sandbox)
    assert poll_instance(str(inst.pk)) == "polled"  # baseline
    PollState.objects.filter(instance=inst).update(next_poll_at=timezone.now())
    made = _changes(sandbox, accounts={"create": 3, "update": 2}, seed=51)
    # The planner's ticket, delivered three times, and two more untargeted polls, at once.
    assert plan_polls() == 1
    ticket = PollState.objects.get(instance=inst).lease_owner
    for _ in range(2):
        poll_instance.delay(str(inst.pk), ticket)
        poll_instance.delay(str(inst.pk))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = PollState.objects.get(instance=inst)
        if state.total_changes and not state.lease_owner:
            break
        time.sleep(0.2)
    time.sleep(2)  # let the other messages run too
    events = _crm_events(inst)
    assert events, celery_worker.log()[-3000:]
    keys = [e.dedupe_key for e in events]
    assert len(keys) == len(set(keys))
    assert {e.data["id"] for e in events} == {c["id"] for c in made}


def test_it_shows_last_and_next_poll_changes_and_the_last_error_on_the_instance_page(polling, sandbox, alice_client):
    _changes(sandbox, accounts={"create": 2}, seed=61)
    assert poll_instance(str(polling.pk)) == "polled"
    page = alice_client.get(f"/instances/{polling.pk}/").content.decode()
    assert "Change polling" in page and "change tracking" in page
    assert '<dd id="poll-changes">2 in the last poll' in page
    assert page.count("data-relative") >= 4  # last and next poll, relative with the absolute time in the title

    PollState.objects.filter(instance=polling).update(next_poll_at=timezone.now())
    sandbox.faults(endpoint="webapi", status=429, retry_after=30, times=1)
    assert poll_instance(str(polling.pk)) == "throttled"
    page = alice_client.get(f"/instances/{polling.pk}/").content.decode()
    assert "Dynamics CRM asked the portal to slow down" in page
    assert "postponed by the time it asked for" in page and "Postponed by 30 s" in page


def test_it_shows_no_polling_panel_for_an_instance_without_polling(alice, alice_client, sandbox):
    inst = sandbox_s2s_instance(alice, sandbox.info)
    assert "Change polling" not in alice_client.get(f"/instances/{inst.pk}/").content.decode()


def test_it_hands_out_a_lost_poll_again_once_its_lease_runs_out(alice, clean_sandbox, sandbox):
    inst = _instance(alice, sandbox)
    assert plan_polls() == 1
    lost_ticket = PollState.objects.get(instance=inst).lease_owner
    PollState.objects.filter(instance=inst).update(lease_expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert plan_polls() == 1
    assert poll_instance(str(inst.pk), lost_ticket) == "not-claimed"  # the old message, arriving late
    assert poll_instance(str(inst.pk), PollState.objects.get(instance=inst).lease_owner) == "polled"


def test_it_plans_polls_every_minute_in_beat():
    from config.celery import app

    app.loader.import_default_modules()
    app.finalize()
    assert app.conf.beat_schedule["events-plan-polls"] == {"task": "events.plan_polls", "schedule": 60.0}
    assert "events.plan_polls" in app.tasks and "events.poll_instance" in app.tasks


def test_it_polls_every_resource(alice, clean_sandbox, sandbox):
    everything = ["accounts", "contacts", "leads", "opportunities", "tasks", "notes", "activities"]
    inst = _instance(alice, sandbox, polling_resources=everything)
    assert poll_instance(str(inst.pk)) == "polled"
    states = PollState.objects.filter(instance=inst)
    assert sorted(states.values_list("table", flat=True)) == sorted(
        ["accounts", "contacts", "leads", "opportunities", "tasks", "annotations", "activitypointers"])
    assert [(s.table, s.last_error_detail) for s in states if s.last_error_code or s.mode != "delta"] == []
    _changes(sandbox, tasks={"create": 1}, seed=81)
    assert poll_instance(str(inst.pk)) == "polled"
    assert sorted(e.type for e in _crm_events(inst)) == ["crm.activities.created", "crm.tasks.created"]


def test_it_records_a_refused_sign_in_and_moves_the_instance_to_needs_reauth(alice, clean_sandbox, sandbox):
    inst = _instance(alice, sandbox, client_secret=sandbox.info["expired_client_secret"])
    assert poll_instance(str(inst.pk)) == "failed"
    state = PollState.objects.get(instance=inst)
    assert state.last_error_code == "AADSTS7000222" and state.last_poll_at and not state.lease_owner
    inst.refresh_from_db()
    assert inst.status == "needs_reauth"
    assert Event.objects.filter(instance=inst, type="instance.needs_reauth").count() == 1
    assert plan_polls() == 0  # not Ready: not polled until someone signs in again


def test_it_delivers_polled_changes_to_the_receiver_signed(alice, sandbox, celery_worker):
    """The whole path with a real worker: beat's planner, the poll, emit, webhook delivery to the inspector."""
    import json
    import secrets

    from standardwebhooks import Webhook

    from setup_portal.events.models import WebhookEndpoint

    sandbox.clear_faults()
    inst = _instance(alice, sandbox)
    url = f"{sandbox.info['backchannel_base']}/_sandbox/webhooks/p{secrets.token_hex(6)}"
    endpoint = WebhookEndpoint.objects.create(instance=inst, enabled=True, url=url)
    path = url.split("/_sandbox/", 1)[1]
    sandbox.admin("POST", path + "/config", {"secret": endpoint.secret})
    assert poll_instance(str(inst.pk)) == "polled"  # the baseline
    made = _changes(sandbox, accounts={"create": 2, "update": 1}, seed=91)
    target = made[0]["id"]
    created = {c["id"] for c in made if c["op"] == "create"}
    expected = {c["id"]: "crm.accounts.created" if c["id"] in created else "crm.accounts.updated" for c in made}
    _api(sandbox)(f"accounts({target})", {"telephone1": "555-0199"})
    PollState.objects.filter(instance=inst).update(next_poll_at=timezone.now())
    plan_polls.delay()

    deadline = time.monotonic() + 60
    received = []
    while time.monotonic() < deadline:
        received = sandbox.admin("GET", path + "?format=json")["deliveries"]
        if len(received) >= len(expected):
            break
        time.sleep(0.3)
    assert len(received) == len(expected), celery_worker.log()[-3000:]
    bodies = []
    for item in received:
        headers = {"webhook-id": item["webhook_id"], "webhook-timestamp": item["timestamp"],
                   "webhook-signature": item["signature"]}
        bodies.append(Webhook(endpoint.secret).verify(item["body"], headers))
        assert json.loads(item["body"])["type"].startswith("crm.accounts.")
    # One event per record: a row created and then updated before the poll arrives once, as created.
    assert {b["data"]["id"]: b["type"] for b in bodies} == expected
    assert next(b for b in bodies if b["data"]["id"] == target)["data"]["record"]["phone"] == "555-0199"
