"""Lifecycle actions: confirmed, audited; rotation and test-connection against the sandbox and a real worker."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.models import Authorization
from setup_portal.crypto import mask
from setup_portal.events import endpoints
from setup_portal.events.models import Delivery, WebhookEndpoint
from setup_portal.instances.models import HealthCheck, Instance, ProvisioningJob
from setup_portal.instances.tokens import ACCESS_TOKEN_CACHE_KEY
from tests.api.conftest import issue_token

from .factories import SECRET, make_instance, sandbox_s2s_instance


@pytest.fixture
def inst(alice):
    return make_instance(alice, name="contoso-crm", token_cache='{"RefreshToken": {"x": {"secret": "rt"}}}',
                         token_hash="cd" * 32, password="", access_token_expires_at=timezone.now())


def _url(name: str, inst: Instance) -> str:
    return reverse(f"instances:{name}", args=[inst.pk])


# Disable / enable: confirmed (htmx dialog or a no-JS confirm page), audited -----------------------

def test_disable_without_confirmation_shows_the_confirm_page(alice_client, inst):
    for response in (alice_client.get(_url("disable", inst)), alice_client.post(_url("disable", inst))):
        assert response.status_code == 200
        html = response.content.decode()
        assert "Disable contoso-crm?" in html and 'name="confirmed" value="yes"' in html
    assert Instance.objects.get(pk=inst.pk).status == Instance.Status.READY


def test_disable_then_enable_restores_the_previous_status(alice_client, alice, inst):
    Instance.objects.filter(pk=inst.pk).update(status=Instance.Status.NEEDS_REAUTH)
    response = alice_client.post(_url("disable", inst), {"confirmed": "yes", "reason": "Contract paused"})
    assert response.status_code == 302
    assert Instance.objects.get(pk=inst.pk).status == Instance.Status.DISABLED
    event = AuditEvent.objects.get(verb="instance.disabled")
    assert event.actor == alice and event.data == {"from": "needs_reauth", "reason": "Contract paused"}

    alice_client.post(_url("enable", inst), {"confirmed": "yes"})
    assert Instance.objects.get(pk=inst.pk).status == Instance.Status.NEEDS_REAUTH
    assert AuditEvent.objects.filter(verb="instance.enabled").count() == 1


def test_htmx_actions_redirect_the_whole_page(alice_client, inst):
    response = alice_client.post(_url("disable", inst), {"confirmed": "yes"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == _url("detail", inst)


def test_the_page_asks_before_acting(alice_client, inst):
    html = alice_client.get(_url("detail", inst)).content.decode()
    assert 'hx-confirm="Disable contoso-crm?' in html
    assert f'href="{_url("delete", inst)}"' in html  # delete has its own confirm page


def test_enabling_an_instance_that_is_not_disabled_is_refused(alice_client, inst):
    response = alice_client.post(_url("enable", inst), {"confirmed": "yes"}, follow=True)
    assert "Only a disabled instance can be enabled." in response.content.decode()
    assert not AuditEvent.objects.filter(verb="instance.enabled").exists()


# Delete -----------------------------------------------------------------------------------------

def test_delete_needs_the_name_typed(alice_client, inst):
    assert "Nothing to revoke at Azure AD" in alice_client.get(_url("delete", inst)).content.decode()
    response = alice_client.post(_url("delete", inst), {"confirm_name": "contoso"})
    assert response.status_code == 400
    assert "Type the name exactly as shown" in response.content.decode()
    assert Instance.objects.get(pk=inst.pk).status == Instance.Status.READY


def test_delete_erases_credentials_and_keeps_the_trail(alice_client, alice, inst):
    auth = Authorization.objects.create(instance=inst, user=alice, token_cache="{cache}")
    job = ProvisioningJob.objects.create(instance=inst, status=ProvisioningJob.Status.QUEUED)
    AuditEvent.objects.create(actor_label="alice", verb="instance.created", target_type="instance",
                              target_id=str(inst.pk), target_label=inst.name)

    response = alice_client.post(_url("delete", inst), {"confirm_name": "contoso-crm"})
    assert response.status_code == 302 and response["Location"] == reverse("instances:dashboard")

    inst.refresh_from_db()
    assert inst.status == Instance.Status.DELETED
    assert (inst.client_secret, inst.secret_hint, inst.password, inst.token_cache, inst.token_hash) == ("",) * 5
    auth.refresh_from_db()
    assert auth.token_cache == ""
    assert ProvisioningJob.objects.get(pk=job.pk).status == ProvisioningJob.Status.FAILED
    verbs = list(AuditEvent.objects.filter(target_id=str(inst.pk)).values_list("verb", flat=True))
    assert verbs == ["instance.deleted", "instance.created"]
    dashboard = alice_client.get("/instances/")
    assert "contoso-crm is deleted" in dashboard.content.decode()
    assert inst not in dashboard.context["page"].object_list
    assert alice_client.get(_url("detail", inst)).status_code == 200
    assert inst.name.startswith("contoso-crm (deleted ")
    assert not Instance.objects.filter(name="contoso-crm").exists(), "the name is free for a new instance"
    assert AuditEvent.objects.filter(verb="instance.deleted").get().data["name"] == "contoso-crm"



def test_delete_forgets_the_cached_access_token_and_the_webhook_endpoint(
        alice_client, alice, clean_sandbox, django_capture_on_commit_callbacks):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info, name="contoso-crm")
    app_token = issue_token(inst)
    assert Client().get("/api/v1/crm/accounts", headers={"Authorization": f"Bearer {app_token}"}).status_code == 200
    key = ACCESS_TOKEN_CACHE_KEY.format(inst.pk)
    assert cache.get(key), "the instance API keeps the access token between calls"
    endpoints.do_update_endpoint(inst, enabled=True, url="https://hooks.example.com/crm",
                                 lifecycle_types=["instance.deleted"], acting_user=alice)
    endpoint = endpoints.do_rotate_webhook_secret(inst, acting_user=alice)  # two secrets sign for a day
    secrets = {str(endpoint.secret), str(endpoint.previous_secret)}

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(_url("delete", inst), {"confirm_name": "contoso-crm"})
    assert response.status_code == 302

    assert cache.get(key) is None
    assert not WebhookEndpoint.objects.filter(instance_id=inst.pk).exists()
    assert not Delivery.objects.filter(event__instance_id=inst.pk).exists(), "nothing more is sent"
    assert all(secret not in str(list(WebhookEndpoint.objects.values())) for secret in secrets)
    assert alice_client.get(reverse("events:settings", args=[inst.pk])).status_code == 404
    assert not WebhookEndpoint.objects.filter(instance_id=inst.pk).exists(), "the page did not make a new one"
    assert AuditEvent.objects.get(verb="instance.deleted").data["webhook_endpoint_erased"] is True


# Rotate the client secret (against the sandbox) -------------------------------------------------

def test_rotation_form_refuses_bad_input_in_plain_words(alice_client, inst):
    response = alice_client.post(_url("rotate_secret", inst), {"new_secret": "6f1d3c1e-2b7a-4c55-9a0e-0d1f2e3a4b5c",
                                                               "expires_on": "2001-01-01"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "secret&#x27;s ID (a GUID)" in html and "That date has passed" in html
    assert Instance.objects.get(pk=inst.pk).client_secret == SECRET


def test_rotation_switches_only_after_azure_accepts_the_new_secret(alice_client, alice, clean_sandbox):
    sandbox = clean_sandbox
    info = sandbox.info
    inst = sandbox_s2s_instance(alice, info, reminders_sent={"2026-01-01": [30]})
    new = sandbox.add_secret(info["s2s_client_id"], days=365)
    expires = (timezone.localdate() + dt.timedelta(days=365)).isoformat()

    response = alice_client.post(_url("rotate_secret", inst), {"new_secret": new["value"], "expires_on": expires})

    assert response.status_code == 302, response.content.decode()[:3000]
    inst.refresh_from_db()
    assert inst.client_secret == new["value"] and inst.secret_hint == mask(new["value"])
    assert inst.secret_expires_on.isoformat() == expires and inst.reminders_sent == {}
    event = AuditEvent.objects.get(verb="instance.secret_rotated")
    assert event.data["new_hint"] == mask(new["value"]) and new["value"] not in str(event.data)
    assert new["value"] not in alice_client.get(_url("detail", inst)).content.decode()


def test_a_wrong_secret_fails_and_the_old_one_stays(alice_client, alice, clean_sandbox):
    info = clean_sandbox.info
    inst = sandbox_s2s_instance(alice, info)
    wrong = "Wr0ngQ~not-the-value-of-any-secret-000"
    expires = (timezone.localdate() + dt.timedelta(days=90)).isoformat()

    response = alice_client.post(_url("rotate_secret", inst), {"new_secret": wrong, "expires_on": expires})

    assert response.status_code == 400
    html = response.content.decode()
    assert "nothing was changed" in html and "AADSTS7000215" in html
    assert "the current one stays in place" in html
    assert wrong not in html
    inst.refresh_from_db()
    assert inst.client_secret == info["s2s_client_secret"]
    event = AuditEvent.objects.get(verb="instance.secret_rotation_failed")
    assert event.data["error_code"] == "AADSTS7000215" and wrong not in str(event.data)


def test_rotating_away_an_expired_secret_clears_needs_reauth(alice_client, alice, clean_sandbox):
    info = clean_sandbox.info
    inst = sandbox_s2s_instance(alice, info, client_secret=info["expired_client_secret"],
                                status=Instance.Status.NEEDS_REAUTH, status_code="AADSTS7000222")
    expires = (timezone.localdate() + dt.timedelta(days=90)).isoformat()
    alice_client.post(_url("rotate_secret", inst), {"new_secret": info["s2s_client_secret"], "expires_on": expires})
    inst.refresh_from_db()
    assert inst.status == Instance.Status.READY and inst.status_code == ""


# Test connection: a health check through the real worker, watched through status.json -------------

def _wait_for_check(client, inst: Instance, since: str, worker) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = client.get(_url("status", inst), {"since": since}).json()
        if not data["pending"]:
            return data
        time.sleep(0.2)
    raise AssertionError("no health check arrived:\n" + worker.log()[-3000:])


def test_test_connection_runs_a_health_check_in_the_worker(sandbox, celery_worker, alice, alice_client):
    sandbox.clear_faults()
    inst = sandbox_s2s_instance(alice, sandbox.info)

    response = alice_client.post(_url("test_connection", inst), {"confirmed": "yes"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Checking the connection in the worker" in html and 'hx-trigger="every 1s"' in html
    since = html.split("since=", 1)[1].split('"', 1)[0].replace("%3A", ":").replace("%2B", "+")
    data = _wait_for_check(alice_client, inst, since, celery_worker)
    assert data["health"] == "healthy" and data["last_check"]["ok"] is True
    check = HealthCheck.objects.get(instance=inst)
    assert check.triggered_by == alice and "WhoAmI" in check.detail
    assert AuditEvent.objects.filter(verb="instance.health_check_requested", actor=alice).count() == 1
    # Once the check is in, the panel stops polling.
    panel = alice_client.get(_url("status", inst), {"since": since}, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in panel and "Healthy" in panel


def test_test_connection_without_javascript_redirects_to_a_refreshing_page(sandbox, celery_worker, alice,
                                                                            alice_client):
    sandbox.clear_faults()
    inst = sandbox_s2s_instance(alice, sandbox.info)
    response = alice_client.post(_url("test_connection", inst), {"confirmed": "yes"})
    assert response.status_code == 302 and "?since=" in response["Location"]
    since = response["Location"].split("since=", 1)[1].split("#", 1)[0]
    page = alice_client.get(response["Location"]).content.decode()
    if "Checking the connection" in page:
        assert '<meta http-equiv="refresh"' in page
    assert _wait_for_check(alice_client, inst, since, celery_worker)["health"] == "healthy"
