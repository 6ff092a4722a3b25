"""The OAuth redirect dance through HTTP, against the sandbox tenant and real msal."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.client import AzureError, complete_authorization
from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.wizard.models import StageRecord

from .conftest import authorize, callback_path, start

pytestmark = pytest.mark.django_db

REQUIRED_CODES = {
    # code: (words the page must show, stage the fix button opens)
    "50011": ("redirect URI does not match", "application"),
    "50126": ("Wrong user name or password", "keys"),
    "50076": ("multi-factor authentication", "authorize"),
    "53003": ("Conditional Access", "authorize"),
    "7000215": ("client secret is not valid", "keys"),
    "7000222": ("client secret has expired", "authorize"),
    "65001": ("Consent has not been granted", "permissions"),
    "65004": ("Consent was declined", "authorize"),
    "90094": ("administrator must grant consent", "permissions"),
    "650057": ("Dynamics CRM is not among", "permissions"),
    "700016": ("app was not found", "environment"),
    "500011": ("Dynamics environment was not found", "environment"),
    "50194": ("single-tenant app", "environment"),
    "54005": ("code was already used", "authorize"),
    "700082": ("sign-in has expired", "authorize"),
    "90002": ("directory was not found", "environment"),
}


def _assert_no_secrets(response, sandbox) -> None:
    body = response.content.decode()
    for secret in (sandbox.info["client_secret"], sandbox.info["password"], sandbox.info["expired_client_secret"]):
        assert secret not in body
    assert "Traceback" not in body


def test_it_works_for_oauth2(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    response = authorize(alice_client, sbx, setup)
    assert response.status_code == 302
    assert response["Location"] == f"/setup/{setup.pk}/instance/"
    setup.refresh_from_db()
    assert setup.authorized_at is not None
    authorization = Authorization.objects.get(setup=setup)
    assert authorization.claims["preferred_username"] == sbx.info["username"]
    assert authorization.claims["tid"] == sbx.info["tenant_id"]
    assert authorization.home_account_id
    assert "user_impersonation" in authorization.scopes
    # The msal cache is encrypted at rest: the raw column holds no token material.
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_cache FROM azure_authorization WHERE id = %s", [authorization.pk])
        raw = cursor.fetchone()[0]
    assert "RefreshToken" in authorization.token_cache and "RefreshToken" not in raw
    assert StageRecord.objects.filter(setup=setup, stage="authorize", user=alice).exists()
    assert AuditEvent.objects.filter(verb="setup.authorized", target_id=str(setup.pk)).exists()
    assert AuthFlow.objects.get(setup=setup).consumed_at is not None


def test_the_authorize_redirect_carries_pkce_state_and_nonce(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    query = dict(parse_qsl(urlsplit(start(alice_client, setup)).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["nonce"] and query["state"]
    assert query["scope"].split()[0] == f"{sbx.info['dynamics_url']}/user_impersonation"
    assert query["redirect_uri"] == "http://127.0.0.1:8000/azure/callback/"
    flow = AuthFlow.objects.get(state=query["state"])
    assert flow.user == alice and flow.setup == setup
    # The stored flow (PKCE verifier) is encrypted at rest.
    with connection.cursor() as cursor:
        cursor.execute("SELECT flow FROM azure_authflow WHERE state = %s", [query["state"]])
        assert "code_verifier" not in cursor.fetchone()[0]


@pytest.mark.parametrize("auth_type", ["s2s", "custom"])
def test_it_works_without_a_browser_for_s2s_and_custom(alice_client, alice, sbx, make_setup, auth_type):
    setup = make_setup(alice, auth_type)
    response = alice_client.post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/setup/{setup.pk}/instance/"
    setup.refresh_from_db()
    assert setup.authorized_at is not None
    assert Authorization.objects.get(setup=setup).token_cache


def test_the_callback_works_without_the_session_cookie(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    location = sbx.browser_sign_in(start(alice_client, setup))
    response = Client().get(callback_path(location))  # a browser that did not send the cookie back
    assert response.status_code == 302
    setup.refresh_from_db()
    assert setup.authorized_at is not None


def test_it_explains_declined_consent(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    response = authorize(alice_client, sbx, setup, consent="cancel")
    assert response.status_code == 400
    assert b"Consent was declined" in response.content
    assert f"/setup/{setup.pk}/authorize/".encode() in response.content
    setup.refresh_from_db()
    assert setup.authorized_at is None


@pytest.mark.parametrize("code", sorted(REQUIRED_CODES))
def test_it_explains_each_catalogued_error_on_the_redirect(alice_client, alice, sbx, make_setup, code):
    setup = make_setup(alice)
    state = dict(parse_qsl(urlsplit(start(alice_client, setup)).query))["state"]
    query = urlencode({"error": "invalid_request", "state": state,
                       "error_description": f"AADSTS{code}: something Azure said. Trace ID: 1234"})
    response = alice_client.get(f"/azure/callback/?{query}")
    words, stage = REQUIRED_CODES[code]
    assert response.status_code == 400
    assert words in response.content.decode()
    assert f"AADSTS{code}".encode() in response.content
    assert f'href="/setup/{setup.pk}/{stage}/"'.encode() in response.content
    _assert_no_secrets(response, sbx)


def test_it_explains_a_secret_id_pasted_instead_of_the_value(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice, client_secret=sbx.info["client_secret_id"])
    response = authorize(alice_client, sbx, setup)
    assert response.status_code == 400
    assert b"client secret is not valid" in response.content and b"AADSTS7000215" in response.content
    assert f'href="/setup/{setup.pk}/keys/"'.encode() in response.content
    _assert_no_secrets(response, sbx)


def test_it_explains_an_expired_secret(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice, "s2s", client_secret=sbx.info["expired_client_secret"])
    response = alice_client.post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == 400
    assert b"AADSTS7000222" in response.content
    _assert_no_secrets(response, sbx)


@pytest.mark.parametrize("overrides, code", [
    ({"password": "wrong-password-1"}, "AADSTS50126"),
    ({"username": "mfa"}, "AADSTS50076"),
])
def test_it_explains_custom_authentication_failures(alice_client, alice, sbx, make_setup, overrides, code):
    if overrides.get("username") == "mfa":
        overrides = {"username": sbx.info["mfa_username"], "password": sbx.info["mfa_password"]}
    setup = make_setup(alice, "custom", **overrides)
    response = alice_client.post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == 400
    assert code.encode() in response.content
    _assert_no_secrets(response, sbx)


@pytest.mark.parametrize("overrides, code", [
    ({"client_id": "00000000-1111-2222-3333-444444444444"}, "AADSTS700016"),
    ({"tenant": "nowhere.onmicrosoft.com"}, "AADSTS90002"),
])
def test_it_explains_a_wrong_app_or_directory(alice_client, alice, sbx, make_setup, overrides, code):
    setup = make_setup(alice, "s2s", **overrides)
    response = alice_client.post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == 400, response.content[:500]
    assert code.encode() in response.content
    assert f'href="/setup/{setup.pk}/environment/"'.encode() in response.content


def test_it_refuses_a_tampered_state(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    location = sbx.browser_sign_in(start(alice_client, setup))
    query = dict(parse_qsl(urlsplit(location).query))
    query["state"] = query["state"][:-2] + "xx"
    response = alice_client.get("/azure/callback/?" + urlencode(query))
    assert response.status_code == 400
    assert b"not recognised" in response.content
    assert Authorization.objects.count() == 0


def test_it_refuses_a_replayed_callback(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(start(alice_client, setup)))
    assert alice_client.get(path).status_code == 302
    response = alice_client.get(path)
    assert response.status_code == 400
    assert b"already completed" in response.content
    assert Authorization.objects.count() == 1


def test_it_refuses_an_expired_state(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(start(alice_client, setup)))
    AuthFlow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = alice_client.get(path)
    assert response.status_code == 400
    assert b"took too long" in response.content


def test_it_refuses_another_users_state(alice_client, alice, sbx, make_setup, django_user_model):
    from setup_portal.accounts.roles import set_role

    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(start(alice_client, setup)))
    dave = django_user_model.objects.create_user("dave", password="x-long-password-1")
    set_role(dave, "admin")
    other = Client()
    other.force_login(dave)
    response = other.get(path)
    assert response.status_code == 400
    assert b"started by someone else" in response.content
    assert f"/setup/{setup.pk}/".encode() not in response.content
    setup.refresh_from_db()
    assert setup.authorized_at is None


def test_a_redeemed_code_is_refused_by_azure(alice, sbx, make_setup, alice_client):
    """Even past our state check (e.g. two portal replicas), the code itself is single-use: 54005."""
    setup = make_setup(alice)
    query = dict(parse_qsl(urlsplit(sbx.browser_sign_in(start(alice_client, setup))).query))
    complete_authorization(user=alice, query=query)
    AuthFlow.objects.update(consumed_at=None)
    with pytest.raises(AzureError) as failure:
        complete_authorization(user=alice, query=query)
    assert failure.value.code == "AADSTS54005"


@pytest.mark.parametrize("client_fixture, status", [("bob_client", 403), ("charlie_client", 403), ("client", 302)])
def test_only_admins_may_authorize(request, alice, sbx, make_setup, client_fixture, status):
    setup = make_setup(alice)
    response = request.getfixturevalue(client_fixture).post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == status
    assert AuthFlow.objects.count() == 0


def test_only_the_owner_may_authorize(alice, sbx, make_setup, django_user_model):
    from setup_portal.accounts.roles import set_role

    setup = make_setup(alice)
    dave = django_user_model.objects.create_user("dave", password="x-long-password-1")
    set_role(dave, "admin")
    other = Client()
    other.force_login(dave)
    assert other.post(f"/azure/authorize/{setup.pk}/").status_code == 403


def test_authorize_needs_post(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    assert alice_client.get(f"/azure/authorize/{setup.pk}/").status_code == 405
