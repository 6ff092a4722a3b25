"""Who may call the instance API: the instance token, and the instance's state."""

from __future__ import annotations

import pytest
from django.test import Client

from setup_portal.api.models import ApiCall
from setup_portal.instances.models import Instance
from tests.api.conftest import issue_token

PROBLEM = "application/problem+json"
URL = "/api/v1/crm/accounts?pageSize=1"


def _get(token: str | None, client: Client | None = None, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return (client or Client()).get(URL, headers=headers)


def test_it_works_with_the_instance_token(app, clean_sandbox):
    assert _get(app.token).status_code == 200


def test_it_requires_a_token(app):
    answer = _get(None)
    assert answer.status_code == 401 and answer["Content-Type"] == PROBLEM
    assert answer["WWW-Authenticate"] == 'Bearer realm="crm"'
    assert answer.json()["type"].endswith("unauthorized") and answer.json()["instance"] == "/api/v1/crm/accounts"


@pytest.mark.parametrize("token", ["dci_wrong", "", "x" * 500, "dci_ä", None])
def test_it_refuses_a_wrong_token(app, token):
    token = token if token is not None else app.token[:-1] + ("A" if app.token[-1] != "A" else "B")
    answer = _get(token)
    assert answer.status_code == 401 and answer["Content-Type"] == PROBLEM
    assert answer["WWW-Authenticate"].startswith('Bearer realm="crm"')
    if token:
        assert answer["WWW-Authenticate"] == 'Bearer realm="crm", error="invalid_token"'


def test_it_refuses_other_schemes(app):
    answer = Client().get(URL, headers={"Authorization": f"Basic {app.token}"})
    assert answer.status_code == 401


def test_it_tells_two_tokens_with_one_prefix_apart(app, alice, sandbox, clean_sandbox):
    from tests.instances.factories import sandbox_s2s_instance

    other = sandbox_s2s_instance(alice, sandbox.info)
    Instance.objects.filter(pk=other.pk).update(token_prefix=app.token[:12], token_hash="0" * 64)
    assert _get(app.token).status_code == 200


def test_it_refuses_a_deleted_instance_like_an_unknown_token(app):
    Instance.objects.filter(pk=app.instance.pk).update(status=Instance.Status.DELETED)
    answer = _get(app.token)
    assert answer.status_code == 401 and 'error="invalid_token"' in answer["WWW-Authenticate"]


def test_it_refuses_a_disabled_instance(app):
    Instance.objects.filter(pk=app.instance.pk).update(status=Instance.Status.DISABLED)
    answer = _get(app.token)
    assert answer.status_code == 403 and answer["Content-Type"] == PROBLEM
    assert answer.json()["instanceStatus"] == "disabled"
    assert ApiCall.objects.get(instance=app.instance).status == 403


def test_it_tells_what_to_do_when_the_instance_needs_reauthentication(app):
    Instance.objects.filter(pk=app.instance.pk).update(status=Instance.Status.NEEDS_REAUTH,
                                                       status_code="AADSTS700082")
    answer = _get(app.token)
    assert answer.status_code == 409 and answer["Content-Type"] == PROBLEM
    body = answer.json()
    assert body["code"] == "AADSTS700082" and body["fix"]
    assert body["instancePage"].endswith(f"/instances/{app.instance.pk}/")
    assert "Re-authenticate" in body["detail"]


@pytest.mark.parametrize("status", [Instance.Status.PROVISIONING, Instance.Status.FAILED])
def test_it_answers_409_until_the_instance_is_ready(app, status):
    Instance.objects.filter(pk=app.instance.pk).update(status=status)
    answer = _get(app.token)
    assert answer.status_code == 409 and answer.json()["instanceStatus"] == status


def test_it_stops_accepting_a_replaced_token(app, clean_sandbox):
    old = app.token
    new = issue_token(app.instance)
    assert _get(old).status_code == 401
    assert _get(new).status_code == 200


def test_it_ignores_the_portal_session_and_csrf(app, alice_client, clean_sandbox):
    assert _get(None, client=alice_client).status_code == 401  # a signed-in person is not an application
    strict = Client(enforce_csrf_checks=True)
    created = strict.post("/api/v1/crm/accounts", {"name": "No CSRF needed"}, content_type="application/json",
                          headers={"Authorization": f"Bearer {app.token}"})
    assert created.status_code == 201
    app.delete(f"/api/v1/crm/accounts/{created.json()['id']}")
