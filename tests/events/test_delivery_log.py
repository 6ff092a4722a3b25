"""The events settings page and the delivery log, through HTTP like a user: who may see and act,
the callback URL checked by the guard, the secret shown once, rotation, redeliver, test event."""

from __future__ import annotations

import re

import pytest
import requests
from django.test import Client
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.events.actions import emit_event
from setup_portal.events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from setup_portal.sandbox.info import bases as sandbox_bases
from tests.instances.factories import make_instance


@pytest.fixture
def inst(alice):
    return make_instance(alice)


def _bin() -> str:
    """The one kind of loopback callback the guard allows (the sandbox is on in the tests): a sandbox bin,
    on the ports of the sandbox running now (if one is)."""
    return f"{sandbox_bases()[1]}/_sandbox/webhooks/log-test"


def _settings_url(inst) -> str:
    return f"/instances/{inst.pk}/events/"


def _log_url(inst) -> str:
    return f"/instances/{inst.pk}/deliveries/"


def _save(client, inst, **fields):
    data = {"events_enabled": "on", "callback_url": _bin(),
            "lifecycle_types": ["instance.ready", "instance.failed"]}
    data.update(fields)
    return client.post(_settings_url(inst), {k: v for k, v in data.items() if v is not None})


def test_it_saves_the_settings_and_audits_them(alice_client, inst):
    resp = _save(alice_client, inst)
    assert resp.status_code == 302
    endpoint = WebhookEndpoint.objects.get(instance=inst)
    assert endpoint.enabled and endpoint.url == _bin()
    assert endpoint.lifecycle_types == ["instance.ready", "instance.failed"]
    audit = AuditEvent.objects.get(verb="webhooks.updated", target_id=str(inst.pk))
    assert audit.data["url"]["to"] == _bin()


@pytest.mark.parametrize(("url", "message"), [
    ("https://10.0.0.1/hooks", "private address"), ("http://127.0.0.1:9/hooks", None),
    ("https://169.254.169.254/latest", "metadata"), ("ftp://example.com/", "https://"),
    ("https://user:pw@127.0.0.1/", "user name or password"), ("https://exa mple.com/", "spaces"),
])
def test_it_refuses_a_callback_url_the_guard_refuses(alice_client, inst, settings, url, message):
    settings.SANDBOX_ENABLED = False
    resp = _save(alice_client, inst, callback_url=url)
    assert resp.status_code == 400
    if message:
        assert message in resp.content.decode()
    assert not WebhookEndpoint.objects.filter(instance=inst, enabled=True).exists()


def test_it_needs_a_url_to_turn_events_on(alice_client, inst):
    resp = _save(alice_client, inst, callback_url="")
    assert resp.status_code == 400 and "Enter the callback URL" in resp.content.decode()


def test_the_callback_url_is_labelled_required_while_events_are_on(alice_client, inst):
    page = alice_client.get(_settings_url(inst)).content.decode()
    label = re.search(r'<label for="id_callback_url">(.*?)</label>', page, re.S)[1]
    assert "(required while events are on)" in label and "optional" not in label


def test_the_attempts_column_counts_what_the_attempts_list_shows(alice_client, inst):
    event, d = _logged(inst, alice_client)
    for status in (500, 200):
        DeliveryAttempt.objects.create(delivery=d, started_at=timezone.now(), status_code=status, latency_ms=30)
    # Redelivered once after the failure: its own count starts again, the log keeps both.
    Delivery.objects.filter(pk=d.pk).update(status=Delivery.Status.SUCCEEDED, attempts=1)
    row = re.search(r'<tr class="delivery".*?</tr>', alice_client.get(_log_url(inst)).content.decode(), re.S)[0]
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[2].startswith("2<br>") and "1 since redelivery" in cells[2]
    assert "Attempts (2)" in row


def test_it_shows_a_rotated_secret_once_and_keeps_the_old_one_signing(alice_client, inst):
    _save(alice_client, inst)
    before = WebhookEndpoint.objects.get(instance=inst).secret
    page = alice_client.post(f"/instances/{inst.pk}/events/rotate-secret/", follow=True).content.decode()
    endpoint = WebhookEndpoint.objects.get(instance=inst)
    assert endpoint.previous_secret == before and endpoint.secret != before
    assert endpoint.secret in page and "shown only this once" in page and "Rotation in progress" in page
    again = alice_client.get(_settings_url(inst)).content.decode()
    assert endpoint.secret not in again and before not in again
    assert AuditEvent.objects.filter(verb="webhooks.secret_rotated").exists()
    assert "whsec_" not in str(AuditEvent.objects.values_list("data", flat=True)[0])


def test_team_leads_see_the_settings_read_only_and_no_secret(alice_client, bob_client, inst):
    _save(alice_client, inst)
    endpoint = WebhookEndpoint.objects.get(instance=inst)
    page = bob_client.get(_settings_url(inst))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Read-only for team leads" in text and endpoint.secret not in text
    assert 'name="callback_url"' not in text
    assert bob_client.post(_settings_url(inst), {"events_enabled": ""}).status_code == 403
    assert bob_client.post(f"/instances/{inst.pk}/events/rotate-secret/").status_code == 403
    assert bob_client.get(_log_url(inst)).status_code == 200


def test_it_refuses_people_without_a_role(charlie_client, inst):
    assert charlie_client.get(_settings_url(inst)).status_code == 403
    assert charlie_client.get(_log_url(inst)).status_code == 403
    assert Client().get(_log_url(inst)).status_code == 302  # to the login page


def _logged(inst, alice_client) -> tuple[Event, Delivery]:
    _save(alice_client, inst)
    event = emit_event(inst, "crm.accounts.created", {"id": "a1"}, record_key="accounts:a1")
    d = event.deliveries.get()
    Delivery.objects.filter(pk=d.pk).update(status=Delivery.Status.GAVE_UP, attempts=9, last_status_code=500,
                                            last_error="The receiver answered 500.")
    return event, d


def test_the_log_lists_and_filters_deliveries(alice_client, inst):
    event, d = _logged(inst, alice_client)
    emit_event(inst, "instance.ready", {})
    page = alice_client.get(_log_url(inst)).content.decode()
    assert event.pk in page and "instance.ready" in page and "Gave up" in page
    filtered = alice_client.get(_log_url(inst), {"status": "gave_up"}).content.decode()
    assert event.pk in filtered and "instance.ready" not in filtered
    assert alice_client.get(_log_url(inst), {"status": "nonsense"}).status_code == 400


def test_redeliver_starts_the_delivery_over_with_the_same_id(alice_client, bob_client, inst):
    event, d = _logged(inst, alice_client)
    assert bob_client.post(f"{_log_url(inst)}{d.pk}/redeliver/").status_code == 403
    resp = alice_client.post(f"{_log_url(inst)}{d.pk}/redeliver/")
    assert resp.status_code == 302 and resp["Location"] == _log_url(inst)
    d.refresh_from_db()
    assert d.status == Delivery.Status.PENDING and d.attempts == 0 and d.event_id == event.pk
    assert AuditEvent.objects.get(verb="webhooks.redelivered").data["event"] == event.pk
    other = make_instance(inst.owner)
    assert alice_client.post(f"/instances/{other.pk}/deliveries/{d.pk}/redeliver/").status_code == 404


def test_redeliver_and_test_events_need_post(alice_client, inst):
    _event, d = _logged(inst, alice_client)
    assert alice_client.get(f"{_log_url(inst)}{d.pk}/redeliver/").status_code == 405
    assert alice_client.get(f"{_log_url(inst)}test/").status_code == 405


def test_it_sends_a_test_event(alice_client, inst):
    assert alice_client.post(f"{_log_url(inst)}test/").status_code == 302  # events off: back to the settings
    assert not Event.objects.filter(type="webhook.test").exists()
    _save(alice_client, inst)
    resp = alice_client.post(f"{_log_url(inst)}test/", follow=True)
    event = Event.objects.get(type="webhook.test", instance=inst)
    assert event.deliveries.count() == 1 and event.pk in resp.content.decode()
    assert AuditEvent.objects.filter(verb="webhooks.test_sent").exists()


def test_use_the_sandbox_tenant_points_at_a_fresh_bin(alice_client, inst, sandbox,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resp = alice_client.post(_settings_url(inst), {"use_sandbox": "1"}, follow=True)
    endpoint = WebhookEndpoint.objects.get(instance=inst)
    assert endpoint.enabled
    assert re.fullmatch(re.escape(sandbox.info["backchannel_base"]) + r"/_sandbox/webhooks/[\w-]+", endpoint.url)
    assert "open the webhook inspector" in resp.content.decode()
    bin_path = endpoint.url.split("/_sandbox/", 1)[1]
    # The link is the http listener's page: a browser refuses the back channel's self-signed https.
    inspector = f"{sandbox.info['browser_base']}/_sandbox/{bin_path}"
    assert f'<a href="{inspector}" target="_blank"' in resp.content.decode()
    assert inspector.startswith("http://")
    assert requests.get(inspector, timeout=10).status_code == 200
    assert sandbox.admin("GET", f"{bin_path}?format=json")["config"]["has_secret"] is True


# --- wizard stage 8 ----------------------------------------------------------------------------
def _authorized_setup(client):
    from setup_portal.azure.models import Authorization
    from setup_portal.wizard.models import Setup
    from tests.wizard.helpers import new_setup, walk

    setup = new_setup(client)
    walk(client, setup, "authorize")
    Authorization.objects.create(setup=setup, claims={"preferred_username": "admin@contoso.onmicrosoft.com"})
    Setup.objects.filter(pk=setup.pk).update(authorized_at=timezone.now(), use_sandbox=True)
    return setup


STAGE8 = {"name": "Contoso events", "tags": "", "filter_nulls": "on", "events_enabled": "on",
          "lifecycle_types": ["instance.ready", "instance.needs_reauth"]}


def test_stage_8_turns_events_on_and_shows_the_secret_once(alice_client, settings):
    from setup_portal.instances.models import Instance
    from tests.wizard.helpers import stage_url

    settings.SANDBOX_ENABLED = False  # the callback URL below must pass as a public https URL
    setup = _authorized_setup(alice_client)
    page = alice_client.get(stage_url(setup, "instance")).content.decode()
    assert 'name="callback_url"' in page and 'name="lifecycle_types"' in page
    refused = alice_client.post(stage_url(setup, "instance"), {**STAGE8, "callback_url": "https://192.168.0.9/h"})
    assert refused.status_code == 400 and "private address" in refused.content.decode()
    assert not Instance.objects.filter(setup=setup).exists()

    resp = alice_client.post(stage_url(setup, "instance"), {**STAGE8, "callback_url": "https://93.184.216.34/h"})
    inst = Instance.objects.get(setup=setup)
    assert resp.status_code == 302
    endpoint = WebhookEndpoint.objects.get(instance=inst)
    assert endpoint.enabled and endpoint.url == "https://93.184.216.34/h"
    assert endpoint.lifecycle_types == ["instance.ready", "instance.needs_reauth"]
    first = alice_client.get(_settings_url(inst)).content.decode()
    assert endpoint.secret in first and "shown only this once" in first
    assert endpoint.secret not in alice_client.get(_settings_url(inst)).content.decode()


def test_stage_8_use_the_sandbox_tenant_fills_in_a_fresh_bin(alice_client, sandbox):
    from tests.wizard.helpers import stage_url

    setup = _authorized_setup(alice_client)
    resp = alice_client.post(stage_url(setup, "instance"), {"name": "Kept as typed", "use_sandbox_bin": "1",
                                                            "lifecycle_types": ["instance.failed"]})
    page = resp.content.decode()
    assert resp.status_code == 200 and 'value="Kept as typed"' in page
    assert f'value="{sandbox.info["backchannel_base"]}/_sandbox/webhooks/' in page
    assert re.search(r'<input[^>]*name="events_enabled"[^>]*checked', page)
    assert re.search(r'<input[^>]*value="instance.failed"[^>]*checked', page)
    assert not re.search(r'<input[^>]*value="instance.ready"[^>]*checked', page)


def test_turning_events_off_keeps_the_url_and_ignores_its_field(alice_client, inst, settings):
    _save(alice_client, inst)
    resp = alice_client.post(_settings_url(inst), {"callback_url": "https://10.0.0.1/ignored"})
    assert resp.status_code == 302
    endpoint = WebhookEndpoint.objects.get(instance=inst)
    assert not endpoint.enabled and endpoint.url == _bin()
    assert endpoint.lifecycle_types == ["instance.ready", "instance.failed"]


@pytest.mark.parametrize("fields", [
    {"callback_url": "https://exa\x00mple.com/"}, {"callback_url": "https://" + "a" * 3000 + ".com/"},
    {"callback_url": "https://[::1"}, {"callback_url": "https://h\u00e9llo.\u0000/"}, {"lifecycle_types": ["nope"]},
    {"callback_url": "javascript:alert(1)"}, {"callback_url": "https://example.com:0/"},
])
def test_hostile_settings_are_refused_with_a_400(alice_client, inst, fields):
    resp = _save(alice_client, inst, **fields)
    assert resp.status_code == 400
    assert not WebhookEndpoint.objects.filter(instance=inst, enabled=True).exists()


@pytest.mark.parametrize("query", ["?page=abc", "?page=999", "?status=%00", "?status=" + "x" * 500])
def test_odd_log_queries_never_fail(alice_client, inst, query):
    assert alice_client.get(_log_url(inst) + query).status_code in (200, 400)


def test_actions_need_the_csrf_token(alice, inst):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    for url in (f"{_log_url(inst)}test/", f"/instances/{inst.pk}/events/rotate-secret/", _settings_url(inst)):
        assert strict.post(url, {"events_enabled": "on"}).status_code == 403, url
    assert not WebhookEndpoint.objects.filter(instance=inst, enabled=True).exists()
