"""Real-time mode against the sandbox: the portal registers its webhook in Dataverse, the sandbox
pushes each committed change to the portal (a live server), a real worker turns it into the event
polling would make and delivers it to a webhook bin, signed (verified here with standardwebhooks)."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks import Webhook

from setup_portal.events.models import Event, PollState, RealtimeHook, WebhookEndpoint
from setup_portal.instances.actions import do_delete_instance, do_disable_instance
from setup_portal.instances.polling_settings import do_rotate_hook_key
from setup_portal.polling.poller import poll_instance
from setup_portal.polling.realtime import push_hook_key, sync_realtime
from tests.conftest import WorkerProcess
from tests.instances.factories import make_instance, sandbox_s2s_instance


def _wait(condition, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker(transactional_db, tmp_path, sandbox, clean_sandbox):
    from config.celery import app

    clean_sandbox.reset()
    app.control.purge()
    process = WorkerProcess(tmp_path / "worker.log", concurrency=2)
    process.start()
    yield process
    process.stop()


class Bin:
    def __init__(self, sandbox, name: str, secret: str):
        self.sandbox, self.name, self.secret = sandbox, name, secret
        self.url = f"{sandbox.info['backchannel_base']}/_sandbox/webhooks/{name}"
        sandbox.admin("POST", f"webhooks/{name}/config", {"secret": secret})

    def deliveries(self) -> list[dict]:
        listed = self.sandbox.admin("GET", f"webhooks/{self.name}?format=json")["deliveries"]
        return list(reversed(listed))  # oldest first

    def verified_events(self) -> list[dict]:
        hook = Webhook(self.secret)
        out = []
        for d in self.deliveries():
            headers = {"webhook-id": d["webhook_id"], "webhook-timestamp": d["timestamp"],
                       "webhook-signature": d["signature"]}
            out.append({"id": d["webhook_id"], **hook.verify(d["body"], headers)})
        return out


def _realtime_instance(alice, sandbox, live_server, settings, name: str, tables: tuple = ("accounts",)):
    settings.PORTAL_BASE_URL = live_server.url
    inst = sandbox_s2s_instance(alice, sandbox.info, polling_enabled=True, polling_resources=list(tables),
                                polling_interval_minutes=1)
    endpoint = WebhookEndpoint.objects.create(instance=inst, enabled=True, url="https://placeholder.invalid/")
    hook_bin = Bin(sandbox, f"rt{str(inst.pk)[:8]}", endpoint.secret)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=hook_bin.url)
    assert poll_instance(str(inst.pk)) == "polled"  # the baseline the reconciliation polls from
    RealtimeHook.objects.create(instance=inst, enabled=True)
    assert sync_realtime(inst.pk) == "active", RealtimeHook.objects.get(instance=inst).message
    return inst, hook_bin


def _someone_else(sandbox):
    """Adele, signed in with the public client (the password grant): a change not made by the portal."""
    info = sandbox.info
    result = sandbox.public_client().acquire_token_by_username_password(
        info["username"], info["password"], [f"{info['dynamics_url']}/user_impersonation"])
    session = sandbox.session()
    session.headers.update({"Authorization": f"Bearer {result['access_token']}", "Accept": "application/json"})
    base = info["endpoints"]["webapi"]
    return lambda method, path, body=None: session.request(method, f"{base}{path}", json=body)


def _registrations(sandbox) -> dict:
    return sandbox.admin("GET", "webhook-faults")["registrations"]["contoso"]


def test_it_pushes_changes_to_the_receiver_in_order_and_unregisters_on_delete(
        alice, sandbox, live_server, settings, worker):
    inst, hook_bin = _realtime_instance(alice, sandbox, live_server, settings, "rt")
    assert _registrations(sandbox) == {"serviceendpoints": 1, "sdkmessageprocessingsteps": 3}
    api = _someone_else(sandbox)
    created = api("POST", "accounts", {"name": "Pushed Co"})
    assert created.status_code == 204, created.text
    account = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    # Each push is read as polling reads a change (the row as it is then): the next change waits
    # until this one has arrived, or a quick delete would leave only the deletion to send.
    _wait(lambda: len(hook_bin.deliveries()) == 1, what="the create pushed")
    assert api("PATCH", f"accounts({account})", {"telephone1": "555-0199"}).status_code == 204
    _wait(lambda: len(hook_bin.deliveries()) == 2, what="the update pushed")
    assert api("DELETE", f"accounts({account})").status_code == 204
    events = _wait(lambda: (e := hook_bin.verified_events()) and len(e) >= 3 and e, what="3 pushed events")
    assert [e["type"] for e in events] == ["crm.accounts.created", "crm.accounts.updated", "crm.accounts.deleted"]
    assert all(e["data"]["id"] == account for e in events)
    assert events[0]["data"]["record"]["name"] == "Pushed Co"
    assert events[1]["data"]["record"]["phone"] == "555-0199"
    hook = RealtimeHook.objects.get(instance=inst)
    assert hook.pushes >= 3 and hook.last_push_at is not None

    # The reconciliation poll finds these changes already sent: no second event.
    assert poll_instance(str(inst.pk)) == "polled"
    assert PollState.objects.get(instance=inst).changes_found == 0
    assert Event.objects.filter(instance=inst, type__startswith="crm.").count() == 3

    do_delete_instance(inst, acting_user=alice)
    _wait(lambda: _registrations(sandbox) == {"serviceendpoints": 0, "sdkmessageprocessingsteps": 0},
          what="the webhook removed from the sandbox")


def test_it_pushes_changes_of_a_custom_table_as_polling_names_them(alice, sandbox, live_server, settings, worker):
    inst, hook_bin = _realtime_instance(alice, sandbox, live_server, settings, "rc", tables=("cr8a2_project",))
    # Steps name the table by logical name, as Dataverse's sdkmessagefilters do.
    assert _registrations(sandbox) == {"serviceendpoints": 1, "sdkmessageprocessingsteps": 3}
    assert set(RealtimeHook.objects.get(instance=inst).steps.values_list("table", "logical_name")) == {
        ("cr8a2_project", "cr8a2_project")}
    api = _someone_else(sandbox)
    created = api("POST", "cr8a2_projects", {"cr8a2_name": "Pushed project"})
    assert created.status_code == 204, created.text
    project = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    events = _wait(lambda: hook_bin.verified_events(), what="the create pushed")
    assert [(e["type"], e["data"]["table"], e["data"]["id"]) for e in events] == [
        ("crm.cr8a2_project.created", "cr8a2_project", project)]
    assert events[0]["data"]["record"]["cr8a2_name"] == "Pushed project"

    # The reconciliation poll reads the same change with the same key: no second event, no second delivery.
    assert poll_instance(str(inst.pk)) == "polled"
    assert PollState.objects.get(instance=inst).changes_found == 0
    assert list(Event.objects.filter(instance=inst, type__startswith="crm.").values_list("type", flat=True)) == [
        "crm.cr8a2_project.created"]
    assert api("DELETE", f"cr8a2_projects({project})").status_code == 204
    events = _wait(lambda: (e := hook_bin.verified_events()) and len(e) >= 2 and e, what="the delete pushed")
    assert [e["type"] for e in events] == ["crm.cr8a2_project.created", "crm.cr8a2_project.deleted"]
    assert poll_instance(str(inst.pk)) == "polled"
    assert PollState.objects.get(instance=inst).changes_found == 0
    assert Event.objects.filter(instance=inst, type__startswith="crm.").count() == 2
    ids = [e["id"] for e in hook_bin.verified_events()]
    assert len(ids) == len(set(ids)) == 2


def test_the_reconciliation_poll_delivers_dropped_pushes_exactly_once(alice, sandbox, live_server, settings, worker):
    inst, hook_bin = _realtime_instance(alice, sandbox, live_server, settings, "rd")
    sandbox.admin("POST", "webhook-faults", {"drop_percent": 100})
    api = _someone_else(sandbox)
    account = api("POST", "accounts", {"name": "Dropped Co"}).headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    _wait(lambda: sandbox.admin("GET", "webhook-faults")["counters"]["dropped"] >= 1, what="the push dropped")
    sandbox.admin("DELETE", "webhook-faults")
    assert poll_instance(str(inst.pk)) == "polled"
    assert PollState.objects.get(instance=inst).changes_found == 1
    events = _wait(lambda: hook_bin.verified_events(), what="the reconciled event")
    assert [(e["type"], e["data"]["id"]) for e in events] == [("crm.accounts.created", account)]
    # A rotated key reaches Dataverse; pushes with it are accepted.
    assert do_rotate_hook_key(inst, acting_user=alice)
    assert push_hook_key(inst.pk) == "rotated"
    assert RealtimeHook.objects.get(instance=inst).previous_key == ""
    api("PATCH", f"accounts({account})", {"telephone1": "1"})
    _wait(lambda: len(hook_bin.verified_events()) == 2, what="the update pushed")
    ids = [e["id"] for e in hook_bin.verified_events()]
    assert len(ids) == len(set(ids)) == 2

    do_disable_instance(inst, acting_user=alice)
    _wait(lambda: _registrations(sandbox) == {"serviceendpoints": 0, "sdkmessageprocessingsteps": 0},
          what="the webhook removed when the instance is disabled")


def test_a_refused_registration_falls_back_to_polling(alice, sandbox, clean_sandbox, settings, db):
    info = sandbox.info
    inst = make_instance(alice, tenant=info["tenant_id"], dynamics_url=info["dynamics_url"], auth_type="s2s",
                         client_id=info["no_app_user_client_id"], client_secret=info["no_app_user_client_secret"],
                         polling_enabled=True, polling_resources=["accounts"])
    RealtimeHook.objects.create(instance=inst, enabled=True)
    assert sync_realtime(inst.pk) == "refused"
    hook = RealtimeHook.objects.get(instance=inst)
    assert "refused to register" in hook.message and "polled as before" in hook.message
    assert not hook.service_endpoint_id and not hook.steps.exists()
    assert _registrations(sandbox)["serviceendpoints"] == 0


def test_the_inbound_endpoint_checks_the_key_and_size(alice, client, db):
    inst = make_instance(alice)
    hook = RealtimeHook.objects.create(instance=inst, enabled=True)
    url = f"/hooks/dataverse/{inst.pk}/"
    body = json.dumps({"MessageName": "Create", "PrimaryEntityName": "account", "PrimaryEntityId": "x"})
    assert client.post(url, body, content_type="application/json").status_code == 401
    assert client.post(url, body, content_type="application/json",
                       headers={"x-portal-hook-key": hook.key + "x"}).status_code == 401
    assert client.post(url, "not json", content_type="application/json",
                       headers={"x-portal-hook-key": hook.key}).status_code == 400
    big = "x" * (600 * 1024)
    assert client.post(url, big, content_type="application/json",
                       headers={"x-portal-hook-key": hook.key}).status_code == 413
    assert client.get(url).status_code == 405


def test_a_saved_settings_change_makes_every_table_due_at_once(alice, sandbox, clean_sandbox, transactional_db):
    from django.utils import timezone

    from setup_portal.instances.actions import do_update_instance

    inst = sandbox_s2s_instance(alice, sandbox.info, polling_enabled=True, polling_resources=["accounts"],
                                polling_interval_minutes=15)
    assert poll_instance(str(inst.pk)) == "polled"
    assert PollState.objects.get(instance=inst).next_poll_at > timezone.now() + timezone.timedelta(minutes=10)
    do_update_instance(inst, polling_interval_minutes=1, polling_resources=["accounts", "contacts"],
                       acting_user=alice)
    assert PollState.objects.get(instance=inst, table="accounts").next_poll_at <= timezone.now()
    from setup_portal.polling.poller import due_instance_ids

    assert inst.pk in due_instance_ids(timezone.now(), 100)
    assert poll_instance(str(inst.pk)) == "polled"
    assert set(PollState.objects.filter(instance=inst).values_list("table", flat=True)) == {"accounts", "contacts"}


def test_poll_now_polls_through_the_worker(alice, alice_client, sandbox, worker):
    inst = sandbox_s2s_instance(alice, sandbox.info, polling_enabled=True, polling_resources=["accounts"])
    resp = alice_client.post(f"/instances/{inst.pk}/poll/")
    assert resp.status_code == 302 and resp.url.endswith("#polling")
    _wait(lambda: PollState.objects.filter(instance=inst, last_poll_at__isnull=False).exists(), what="the poll")
