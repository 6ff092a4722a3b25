"""What event polling offers and polls: every change-tracked table of the metadata, against the sandbox."""

from __future__ import annotations

import json
import secrets
import time

from django.utils import timezone

from setup_portal.crm.resources import FRIENDLY_CHOICES, RESOURCES
from setup_portal.crm.tables import Catalogue
from setup_portal.dataverse import stored
from setup_portal.events.models import Event, PollState, WebhookEndpoint
from setup_portal.instances import polled_tables as tables
from setup_portal.instances import provisioning
from setup_portal.instances.forms import EditInstanceForm, InstanceForm
from setup_portal.polling.poller import plan_polls, poll_instance
from tests.api.rest.conftest import key_client
from tests.instances.factories import make_instance, sandbox_s2s_instance

FRIENDLY = ["accounts", "contacts", "leads", "opportunities", "tasks", "notes", "activities"]


def test_the_friendly_tables_are_defined_once():
    """crm/resources.py's RESOURCES name, label and locate the seven; the forms' choices, the polling
    choices and the provisioning probe read them there."""
    assert [name for name, _ in FRIENDLY_CHOICES] == list(RESOURCES) == FRIENDLY
    assert InstanceForm.base_fields["polling_resources"].choices == FRIENDLY_CHOICES
    assert tables.choices(None) == FRIENDLY_CHOICES
    assert provisioning.POLLING_ENTITIES == {
        "accounts": "account", "contacts": "contact", "leads": "lead", "opportunities": "opportunity",
        "tasks": "task", "notes": "annotation", "activities": "activitypointer"}
    # An environment's catalogue keeps them on the friendly aliases it widens with the table's columns.
    assert Catalogue([]).resource("notes").logical_name == "annotation"


def _instance(alice, sandbox, **fields):
    values = {"polling_enabled": True, "polling_resources": ["cr8a2_project"], "polling_interval_minutes": 5}
    values.update(fields)
    return sandbox_s2s_instance(alice, sandbox.info, **values)


def _web_api(sandbox):
    """POST a row as the portal's application user (client credentials), as another application would."""
    info = sandbox.info
    app = sandbox.confidential_client(client_id=info["s2s_client_id"], client_credential=info["s2s_client_secret"])
    token = app.acquire_token_for_client([f"{info['dynamics_url']}/.default"])["access_token"]
    session = sandbox.session()

    def create(entity_set: str, body: dict) -> str:
        resp = session.post(f"{info['dynamics_url']}/api/data/v9.2/{entity_set}", json=body,
                            headers={"Authorization": f"Bearer {token}", "Prefer": "return=representation"})
        assert resp.status_code == 201, resp.text
        return resp.json()["cr8a2_projectid"]

    return create


def test_it_offers_the_friendly_resources_then_every_change_tracked_table_read_once(alice, sandbox):
    inst = _instance(alice, sandbox)
    assert stored.load(inst.pk) is None
    offered = dict(tables.choices(inst))
    assert list(offered)[:7] == FRIENDLY
    assert "cr8a2_project" in offered and "Project" in offered["cr8a2_project"]
    assert "cr8a2_milestone" not in offered  # no change tracking in its metadata
    assert "account" not in offered and "annotation" not in offered  # offered under their friendly names
    fetched = stored.fetched_at(inst.pk)
    assert fetched is not None
    tables.choices(inst)
    assert stored.fetched_at(inst.pk) == fetched  # the stored copy answers from then on


def test_it_offers_the_friendly_ones_and_the_chosen_ones_when_the_metadata_cannot_be_read(alice):
    inst = make_instance(alice, status="provisioning", polling_resources=["accounts", "cr8a2_project"])
    assert [name for name, _ in tables.choices(inst, keep=inst.polling_resources)] == [*FRIENDLY, "cr8a2_project"]


def test_it_lists_custom_tables_in_the_edit_form_and_refuses_untracked_ones(alice, sandbox):
    inst = _instance(alice, sandbox, polling_resources=["accounts"])
    form = EditInstanceForm(instance=inst)
    names = [name for name, _ in form.fields["polling_resources"].choices]
    assert "cr8a2_project" in names and "cr8a2_milestone" not in names
    data = {"name": inst.name, "polling_enabled": "on", "polling_interval_minutes": "5", "filter_nulls": "on"}
    assert EditInstanceForm({**data, "polling_resources": ["accounts", "cr8a2_project"]}, instance=inst).is_valid()
    refused = EditInstanceForm({**data, "polling_resources": ["cr8a2_milestone"]}, instance=inst)
    assert not refused.is_valid() and "polling_resources" in refused.errors


def test_it_offers_the_same_tables_through_the_management_api(alice, sandbox):
    inst = _instance(alice, sandbox, polling_resources=["accounts"])
    api = key_client(alice)
    url = f"/api/v1/instances/{inst.pk}"
    body = api.get(url).json()
    offered = [t["name"] for t in body["polling_tables"]]
    assert offered == [name for name, _ in tables.choices(inst)]
    assert "cr8a2_project" in offered and "cr8a2_milestone" not in offered
    response = api.patch(url, {"polling_resources": ["accounts", "cr8a2_project"]})
    assert response.status_code == 200, response.content
    assert response.json()["polling_resources"] == ["accounts", "cr8a2_project"]
    refused = api.patch(url, {"polling_resources": ["cr8a2_milestone"]})
    assert refused.status_code == 422 and "polling_resources" in refused.json()["errors"]


def test_it_reports_a_polled_table_the_environment_lacks(alice, clean_sandbox, sandbox):
    inst = _instance(alice, sandbox, polling_resources=["cr8a2_nothing"])
    assert poll_instance(str(inst.pk)) == "polled"
    state = PollState.objects.get(instance=inst)
    assert state.table == "cr8a2_nothing" and state.last_error_code == "unknown_table"


def test_it_polls_a_custom_table_to_the_receiver_with_a_real_worker(alice, sandbox, celery_worker):
    sandbox.clear_faults()
    inst = _instance(alice, sandbox)
    url = f"{sandbox.info['backchannel_base']}/_sandbox/webhooks/t{secrets.token_hex(6)}"
    WebhookEndpoint.objects.create(instance=inst, enabled=True, url=url)
    path = url.split("/_sandbox/", 1)[1]
    assert poll_instance(str(inst.pk)) == "polled"  # the baseline, after reading the metadata once
    state = PollState.objects.get(instance=inst)
    assert state.table == "cr8a2_project" and state.mode == "delta" and not state.last_error_code
    record_id = _web_api(sandbox)("cr8a2_projects", {"cr8a2_name": "Polled project"})
    PollState.objects.filter(instance=inst).update(next_poll_at=timezone.now())
    plan_polls.delay()

    deadline = time.monotonic() + 60
    received = []
    while time.monotonic() < deadline and not received:
        received = sandbox.admin("GET", path + "?format=json")["deliveries"]
        time.sleep(0.3)
    assert len(received) == 1, celery_worker.log()[-3000:]
    body = json.loads(received[0]["body"])
    assert body["type"] == "crm.cr8a2_project.created"
    assert body["data"]["table"] == "cr8a2_project" and body["data"]["id"] == record_id
    assert body["data"]["record"]["id"] == record_id and body["data"]["record"]["cr8a2_name"] == "Polled project"
    assert Event.objects.get(instance=inst, type="crm.cr8a2_project.created").record_key == f"cr8a2_project:{record_id}"
