"""The instance page, the review, and the permission matrix of every view and action."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.instances import state
from setup_portal.instances.models import HealthCheck, Instance, InstanceReview, JobStep, ProvisioningJob
from setup_portal.wizard.models import Setup, StageRecord

from .factories import SECRET, make_instance

READ_VIEWS = ["detail", "status"]
REVIEW_ACTIONS = ["approve", "request_changes"]
ADMIN_ACTIONS = ["test_connection", "disable", "enable", "rotate_secret", "delete"]


@pytest.fixture
def inst(alice):
    return make_instance(alice, name="contoso-crm")


def _url(name: str, inst: Instance) -> str:
    return reverse(f"instances:{name}", args=[inst.pk])


# Permission matrix -------------------------------------------------------------------------------

@pytest.mark.parametrize("view", READ_VIEWS + REVIEW_ACTIONS + ADMIN_ACTIONS)
def test_anonymous_visitors_are_sent_to_sign_in(client, inst, view):
    method = client.post if view in REVIEW_ACTIONS else client.get
    response = method(_url(view, inst))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("view", READ_VIEWS + ADMIN_ACTIONS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_users_without_a_role_get_403_everywhere(charlie_client, inst, view, method):
    if view in READ_VIEWS and method == "post":
        return
    assert getattr(charlie_client, method)(_url(view, inst), {"confirmed": "yes"}).status_code == 403


@pytest.mark.parametrize("view", REVIEW_ACTIONS)
def test_users_without_a_role_cannot_review(charlie_client, inst, view):
    assert charlie_client.post(_url(view, inst), {"comment": "x"}).status_code == 403
    assert Instance.objects.get(pk=inst.pk).review_state == Instance.Review.PENDING


@pytest.mark.parametrize("view", ADMIN_ACTIONS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_team_leads_get_403_on_every_admin_action(bob_client, inst, view, method):
    data = {"confirmed": "yes", "confirm_name": inst.name, "new_secret": "Qx8Q~another-secret-value-000000",
            "expires_on": "2099-01-01"}
    response = getattr(bob_client, method)(_url(view, inst), data)
    assert response.status_code == 403
    after = Instance.objects.get(pk=inst.pk)
    assert after.status == Instance.Status.READY and after.client_secret == SECRET
    assert not AuditEvent.objects.filter(target_id=str(inst.pk)).exists()


@pytest.mark.parametrize("view", REVIEW_ACTIONS)
def test_admins_do_not_review_their_own_work(alice_client, inst, view):
    assert alice_client.post(_url(view, inst), {"comment": "fine"}).status_code == 403


@pytest.mark.parametrize("view", READ_VIEWS)
def test_team_leads_and_admins_see_the_instance(alice_client, bob_client, inst, view):
    assert alice_client.get(_url(view, inst)).status_code == 200
    assert bob_client.get(_url(view, inst)).status_code == 200


def test_review_actions_refuse_get(bob_client, inst):
    assert bob_client.get(_url("approve", inst)).status_code == 405


def test_an_unknown_instance_is_404(alice_client, db):
    assert alice_client.get("/instances/00000000-0000-4000-8000-000000000000/").status_code == 404


# The page ---------------------------------------------------------------------------------------

@pytest.fixture
def history(alice, inst):
    setup = Setup.objects.create(owner=alice, dynamics_url=inst.dynamics_url, status=Setup.Status.COMPLETED)
    Instance.objects.filter(pk=inst.pk).update(setup=setup, token_hash="ab" * 32, token_prefix="dci_7Gq2")
    StageRecord.objects.create(setup=setup, stage="environment", user=alice, duration_ms=42_000)
    StageRecord.objects.create(setup=setup, stage="keys", user=alice, duration_ms=5_000, valid=False,
                               messages=["The secret looked like a GUID."])
    job = ProvisioningJob.objects.create(instance=inst, status=ProvisioningJob.Status.FAILED, created_by=alice,
                                         error_detail="Dataverse answered 403.")
    JobStep.objects.create(job=job, key="acquire_token", position=0, status="succeeded")
    JobStep.objects.create(job=job, key="permission_probe", position=3, status="failed", error_code="dataverse_403",
                           detail="No application user for the app.")
    HealthCheck.objects.create(instance=inst, ok=False, detail="WhoAmI refused", error_code="http_503")
    AuditEvent.objects.create(actor=alice, actor_label="alice", verb="instance.created", target_type="instance",
                              target_id=str(inst.pk), target_label=inst.name, data={"auth_type": "oauth2"})
    return job


def test_the_page_shows_configuration_history_and_trail(alice_client, inst, history):
    html = alice_client.get(_url("detail", inst)).content.decode()
    for text in ["contoso-crm", inst.dynamics_url, inst.client_id, "Set up by", "Environment", "Keys and client ID",
                 "did not pass", "The secret looked like a GUID.", "Check read permission (one account)",
                 "dataverse_403", "No application user for the app.", "WhoAmI refused", "instance.created",
                 "dci_7Gq2", "stored hashed"]:
        assert text in html, text


def test_admins_see_only_the_secret_hint(alice_client, inst):
    html = alice_client.get(_url("detail", inst)).content.decode()
    assert inst.secret_hint in html
    assert SECRET not in html


def test_team_leads_see_no_secret_and_no_admin_buttons(bob_client, inst):
    html = bob_client.get(_url("detail", inst)).content.decode()
    assert SECRET not in html and inst.secret_hint not in html and "••••" not in html
    assert "Hidden from team leads" in html
    for name in ADMIN_ACTIONS:
        assert _url(name, inst) not in html
    assert _url("approve", inst) in html


def test_a_team_lead_approves(bob_client, bob, inst):
    response = bob_client.post(_url("approve", inst), {"comment": "Checked the tags."}, follow=True)
    assert response.status_code == 200
    inst.refresh_from_db()
    assert (inst.review_state, inst.reviewed_by, inst.review_comment) == ("approved", bob, "Checked the tags.")
    html = response.content.decode()
    assert "Approved" in html and "by <strong>bob</strong>" in html
    event = AuditEvent.objects.get(verb="instance.approved")
    assert event.actor == bob and event.data["comment"] == "Checked the tags."


def test_requesting_changes_needs_a_comment(bob_client, inst):
    response = bob_client.post(_url("request_changes", inst), {"comment": "  "})
    assert response.status_code == 400
    assert "Say what should change" in response.content.decode()
    assert Instance.objects.get(pk=inst.pk).review_state == "pending"


def test_the_owner_sees_a_change_request_on_the_home_page(bob_client, alice_client, inst):
    bob_client.post(_url("request_changes", inst), {"comment": "Add the production tag."})
    inst.refresh_from_db()
    assert inst.review_state == Instance.Review.CHANGES_REQUESTED
    assert "Add the production tag." in alice_client.get("/").content.decode()
    assert "Changes requested" in alice_client.get(_url("detail", inst)).content.decode()
    # Approving later closes the open request.
    bob_client.post(_url("approve", inst), {"comment": ""})
    assert not InstanceReview.objects.filter(instance=inst, decision="changes_requested",
                                             resolved_at__isnull=True).exists()
    assert InstanceReview.objects.filter(instance=inst).count() == 2


def test_status_json_reports_health(alice_client, inst):
    HealthCheck.objects.create(instance=inst, ok=True, detail="WhoAmI answered.", duration_ms=12)
    data = alice_client.get(_url("status", inst)).json()
    assert data["status"] == "ready" and data["last_check"]["ok"] is True and data["pending"] is False


def test_status_json_for_htmx_is_the_live_panel(alice_client, inst):
    since = (timezone.now() - dt.timedelta(seconds=5)).isoformat()  # asked for a moment ago, no answer yet
    response = alice_client.get(_url("status", inst), {"since": since}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="live-status"' in html and "Checking the connection" in html and 'hx-trigger="every 1s"' in html
    assert "HX-Request" in response["Vary"]


def test_a_failing_health_check_says_what_to_do_and_the_badge_shows_it(alice_client, inst):
    html = alice_client.get(_url("detail", inst)).content.decode()
    assert '<span class="badge badge-ok">Ready</span>' in html
    state.record_health_check(inst.pk, ok=False, detail="Dataverse answered 403 (0x80040220): Principal user is "
                              "missing prvReadAccount privilege.", error_code="dataverse_403", duration_ms=40,
                              acting_user=None)
    html = alice_client.get(_url("detail", inst)).content.decode()
    assert "Ready · unhealthy</span>" in html and '<span class="badge badge-ok">Ready</span>' not in html
    assert "Principal user is missing prvReadAccount privilege." in html
    assert "Dynamics CRM refused access" in html and "What to do:" in html
    assert "add the app as an application user and give it a security role" in html
    state.record_health_check(inst.pk, ok=True, detail="WhoAmI answered.", duration_ms=12, acting_user=None)
    html = alice_client.get(_url("detail", inst)).content.decode()
    assert '<span class="badge badge-ok">Ready</span>' in html and "What to do:" not in html
