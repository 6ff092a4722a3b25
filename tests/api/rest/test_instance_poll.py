"""POST /api/v1/instances/{id}/poll: the instance page's Poll now for scripts."""

from __future__ import annotations

from setup_portal.events.models import RealtimeHook
from tests.instances.factories import make_instance


def test_it_queues_a_poll_of_a_polled_instance(alice, alice_api, django_capture_on_commit_callbacks):
    """(The worker's part, the poll itself, is tested with a real worker in tests/polling/test_realtime.py.)"""
    inst = make_instance(alice, polling_enabled=True, polling_resources=["accounts", "contacts"])
    with django_capture_on_commit_callbacks() as queued:
        resp = alice_api.post(f"/api/v1/instances/{inst.pk}/poll")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["tables"] == ["accounts", "contacts"] and body["realtime"] is False and body["requested_at"]
    assert len(queued) == 1


def test_it_refuses_an_instance_that_is_not_polled(alice, alice_api):
    inst = make_instance(alice, polling_enabled=False)
    resp = alice_api.post(f"/api/v1/instances/{inst.pk}/poll")
    assert resp.status_code == 409
    assert resp.json()["detail"] == "Polling runs only while the instance is Ready with polling on."


def test_it_says_when_the_poll_only_reconciles(alice, alice_api):
    inst = make_instance(alice, polling_enabled=True, polling_resources=["accounts"])
    hook = RealtimeHook.objects.create(instance=inst, enabled=True, state=RealtimeHook.State.ACTIVE)
    for message in ("Create", "Update", "Delete"):
        hook.steps.create(table="accounts", logical_name="account", message=message, step_id=message)
    resp = alice_api.post(f"/api/v1/instances/{inst.pk}/poll")
    assert resp.status_code == 202 and resp.json()["realtime"] is True


def test_it_requires_admin_rights(alice, charlie_api):
    inst = make_instance(alice, polling_enabled=True, polling_resources=["accounts"])
    assert charlie_api.post(f"/api/v1/instances/{inst.pk}/poll").status_code == 403
