"""Instances through the management API: the same filters, rules and actions as the pages."""

from __future__ import annotations

from django.test import Client

from setup_portal.audit.models import AuditEvent
from setup_portal.instances.models import Instance
from tests.instances.factories import make_instance

LIST = "/api/v1/instances"


def _url(inst, suffix: str = "") -> str:
    return f"/api/v1/instances/{inst.pk}{suffix}"


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"].startswith("tag:")
    return body


def test_it_lists_with_the_dashboards_filters(alice, alice_api):
    make_instance(alice, name="Contoso sales", tags=",sales,")
    make_instance(alice, name="Fabrikam", status=Instance.Status.FAILED)
    response = alice_api.get(LIST, {"q": "sales"})
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["Contoso sales"]
    assert response.json()["results"][0]["tags"] == ["sales"]
    assert [r["name"] for r in alice_api.get(LIST, {"status": "failed"}).json()["results"]] == ["Fabrikam"]
    assert [r["name"] for r in alice_api.get(LIST, {"sort": "name"}).json()["results"]] == ["Contoso sales",
                                                                                          "Fabrikam"]


def test_it_refuses_a_bad_filter_per_field(alice_api):
    body = _assert_problem(alice_api.get(LIST, {"sort": "secret_value", "status": "nope"}), 422)
    assert set(body["errors"]) == {"sort", "status"}


def test_it_pages_with_a_signed_cursor(alice, alice_api):
    for n in range(5):
        make_instance(alice, name=f"inst-{n}")
    seen = []
    response = alice_api.get(LIST, {"sort": "name", "page_size": "2"})
    while True:
        body = response.json()
        seen += [r["name"] for r in body["results"]]
        if not body["next"]:
            break
        response = alice_api.get(body["next"])
    assert seen == [f"inst-{n}" for n in range(5)]
    _assert_problem(alice_api.get(LIST, {"sort": "name", "page_size": "2", "cursor": "forged"}), 422)
    # A cursor of one list is no good for another.
    first = alice_api.get(LIST, {"sort": "name", "page_size": "2"}).json()["next"]
    cursor = first.split("cursor=")[1]
    _assert_problem(alice_api.get(LIST, {"sort": "-name", "page_size": "2", "cursor": cursor}), 422)


def test_it_needs_a_credential(db):
    body = _assert_problem(Client().get(LIST), 401)
    assert "API key" in body["detail"]
    _assert_problem(Client().get(LIST, headers={"Authorization": "Bearer dcp_nothing_here"}), 401)


def test_it_refuses_people_without_a_role(charlie_api):
    _assert_problem(charlie_api.get(LIST), 403)


def test_it_gets_one_without_secrets(alice, bob_api):
    inst = make_instance(alice)
    response = bob_api.get(_url(inst))
    assert response.status_code == 200
    text = response.content.decode()
    assert inst.name in text and "stored-secret" not in text and "token_hash" not in text
    _assert_problem(bob_api.get("/api/v1/instances/not-a-uuid"), 404)
    _assert_problem(bob_api.get("/api/v1/instances/7d1e1f0c-4a57-4d4c-9d35-2a8e0f6a3b11"), 404)


def test_it_changes_settings_through_the_edit_pages_rules(alice, alice_api):
    inst = make_instance(alice, name="Old name")
    make_instance(alice, name="Taken")
    response = alice_api.patch(_url(inst), {"name": "New name", "tags": ["Sales EU", "sales eu"],
                                            "trace_logging": True})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "New name" and body["tags"] == ["sales-eu"] and body["trace_logging"] is True
    assert AuditEvent.objects.filter(verb="instance.updated", target_id=str(inst.pk)).exists()
    body = _assert_problem(alice_api.patch(_url(inst), {"name": "taken", "polling_enabled": True,
                                                        "polling_resources": []}), 422)
    assert set(body["errors"]) == {"name", "polling_resources"}
    body = _assert_problem(alice_api.patch(_url(inst), {"name": "TAKEN"}), 409)  # all that is wrong: a conflict
    assert set(body["errors"]) == {"name"}
    _assert_problem(alice_api.patch(_url(inst), {"name": 12}), 400)
    _assert_problem(alice_api.patch(_url(inst), {"filter_nulls": "yes"}), 400)


def test_it_checks_webhook_settings_with_the_events_form(alice, alice_api):
    inst = make_instance(alice)
    body = _assert_problem(alice_api.patch(_url(inst), {"webhooks": {"enabled": True}}), 422)
    assert "webhooks.callback_url" in body["errors"]
    body = _assert_problem(alice_api.patch(_url(inst), {"webhooks": {
        "enabled": True, "callback_url": "http://169.254.169.254/latest"}}), 422)
    assert "webhooks.callback_url" in body["errors"]


def test_team_leads_cannot_change_anything(alice, bob_api):
    inst = make_instance(alice)
    for response in (bob_api.patch(_url(inst), {"name": "x"}), bob_api.delete(_url(inst)),
                     bob_api.post(_url(inst, "/disable")), bob_api.post(_url(inst, "/token"))):
        body = _assert_problem(response, 403)
        assert "admins" in body["detail"]


def test_it_disables_and_enables(alice, alice_api):
    inst = make_instance(alice)
    response = alice_api.post(_url(inst, "/disable"), {"reason": "Contract ended"})
    assert response.status_code == 200 and response.json()["status"] == "disabled"
    _assert_problem(alice_api.post(_url(inst, "/disable")), 409)
    response = alice_api.post(_url(inst, "/enable"))
    assert response.status_code == 200 and response.json()["status"] == "ready"


def test_it_deletes_with_the_pages_erasure(alice, alice_api):
    inst = make_instance(alice)
    assert alice_api.delete(_url(inst)).status_code == 204
    inst.refresh_from_db()
    assert inst.status == Instance.Status.DELETED and not inst.client_secret
    _assert_problem(alice_api.get(_url(inst)), 404)
    _assert_problem(alice_api.delete(_url(inst)), 404)


def test_it_issues_a_token_once(alice, alice_api):
    inst = make_instance(alice)
    response = alice_api.post(_url(inst, "/token"))
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    token = response.json()["token"]
    inst.refresh_from_db()
    assert token.startswith(inst.token_prefix) and token not in alice_api.get(_url(inst)).content.decode()


def test_it_queues_a_connection_test(alice, alice_api):
    inst = make_instance(alice)
    response = alice_api.post(_url(inst, "/test-connection"))
    assert response.status_code == 202
    assert response.json()["health_url"] == _url(inst, "/health")
    assert AuditEvent.objects.filter(verb="instance.health_check_requested", target_id=str(inst.pk)).exists()


def test_it_answers_405_as_a_problem(alice, alice_api):
    inst = make_instance(alice)
    response = alice_api.client.put(_url(inst), {}, content_type="application/json",
                                    headers={"Authorization": f"Bearer {alice_api.key}"})
    _assert_problem(response, 405)


def test_a_browser_session_needs_csrf_for_changes(alice):
    inst = make_instance(alice)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(_url(inst)).status_code == 200
    _assert_problem(browser.patch(_url(inst), {"name": "x"}, content_type="application/json"), 403)


def test_each_key_is_rate_limited_with_a_problem(alice_api, settings):
    settings.API_KEY_RATE_LIMIT = "1/m"
    assert alice_api.get(LIST).status_code == 200
    body = _assert_problem(alice_api.get(LIST), 429)
    assert int(alice_api.get(LIST)["Retry-After"]) >= 1 and body["detail"]


def test_it_promotes_a_ready_instance_to_a_draft(alice, alice_api):
    inst = make_instance(alice, name="Contoso Sales", tags=",sales,", auth_type="s2s", filter_nulls=False)
    response = alice_api.post(_url(inst, "/promote"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["current_stage"] == "environment" and body["auth_type"] == "s2s" and body["dynamics_url"] == ""
    assert response["Location"] == f"/api/v1/setups/{body['id']}"
    assert AuditEvent.objects.filter(verb="instance.promotion_started", target_id=str(inst.pk)).exists()


def test_it_refuses_to_promote_an_instance_that_is_not_ready(alice, alice_api, bob_api):
    inst = make_instance(alice, status=Instance.Status.DISABLED)
    response = alice_api.post(_url(inst, "/promote"))
    assert response.status_code == 409 and "Ready" in response.json()["detail"]
    assert bob_api.post(_url(make_instance(alice), "/promote")).status_code == 403


def test_it_refuses_to_promote_a_production_instance(alice, alice_api):
    inst = make_instance(alice, environment_type="Production")
    response = alice_api.post(_url(inst, "/promote"))
    assert response.status_code == 409 and "production environment" in response.json()["detail"]
    sandbox = make_instance(alice, name="Rehearsal", environment_type="Sandbox")
    assert alice_api.post(_url(sandbox, "/promote")).status_code == 201
    # A script can tell which is which before it asks
    assert alice_api.get(_url(inst, "")).json()["environment_type"] == "Production"
    listed = {i["name"]: i["environment_type"] for i in alice_api.get(LIST).json()["results"]}
    assert listed["Rehearsal"] == "Sandbox"
