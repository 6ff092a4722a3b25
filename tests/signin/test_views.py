"""The OAuth redirect dance through HTTP, against the sandbox tenant and real msal.

Azure AD posts its answer (response_mode=form_post); the callback records the outcome and
answers 303 to a GET that shows it, so codes never sit in a URL."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.client import AzureError
from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.signin.actions import do_complete_authorization
from setup_portal.wizard.models import StageRecord

from .conftest import authorize, outcome, post_answer, start

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
    flow = AuthFlow.objects.get(setup=setup)
    assert flow.consumed_at is not None and flow.authorization == authorization
    # The PKCE verifier and nonce were for this one answer: nothing of them is kept.
    assert flow.flow == ""


def test_the_authorize_redirect_carries_pkce_state_and_nonce(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    query = dict(parse_qsl(urlsplit(start(alice_client, setup)).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["response_mode"] == "form_post"  # the code is posted back, never put in a URL
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


def test_the_callback_works_without_the_session_cookie(alice_client, alice, sbx, make_setup, settings):
    """Azure's form_post is a cross-site POST: under SameSite=Lax it arrives without the session cookie."""
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    setup = make_setup(alice)
    posted = post_answer(Client(), sbx.browser_answer(start(alice_client, setup)))
    assert posted.status_code == 303
    assert settings.SESSION_COOKIE_NAME not in posted.cookies  # it must not replace the admin's session
    setup.refresh_from_db()
    assert setup.authorized_at is not None
    # The browser follows the 303 with a top-level GET, which carries the Lax cookie: signed in, right page.
    response = alice_client.get(posted["Location"], follow=True)
    assert response.redirect_chain[0][0] == f"/setup/{setup.pk}/instance/"
    assert f"Authorized as {sbx.info['username']}" in response.content.decode()
    assert response.context["user"] == alice


def test_the_outcome_page_asks_an_anonymous_browser_to_sign_in(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    posted = post_answer(Client(), sbx.browser_answer(start(alice_client, setup)))
    response = Client().get(posted["Location"])
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_no_url_the_browser_visits_carries_the_code(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    url, answer = sbx.browser_answer(start(alice_client, setup))
    assert answer["code"] and urlsplit(url).query == ""
    posted = post_answer(alice_client, (url, answer))
    assert "code" not in dict(parse_qsl(urlsplit(posted["Location"]).query))
    assert answer["code"] not in posted["Location"]


def test_it_refuses_a_code_in_the_url(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    _, answer = sbx.browser_answer(start(alice_client, setup))
    response = alice_client.get("/azure/callback/?" + urlencode(answer))
    assert response.status_code == 400
    assert b"came back in the address bar" in response.content
    assert AuthFlow.objects.get(setup=setup).consumed_at is None  # not redeemed: the posted answer still works
    assert outcome(alice_client, post_answer(alice_client, ("/azure/callback/", answer))).status_code == 302


def test_a_pending_state_without_an_answer_is_explained(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    state = dict(parse_qsl(urlsplit(start(alice_client, setup)).query))["state"]
    response = alice_client.get(f"/azure/callback/?state={state}")
    assert response.status_code == 400
    assert b"The sign-in answer is missing" in response.content
    assert AuthFlow.objects.get(setup=setup).consumed_at is None


def test_it_explains_declined_consent(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    response = authorize(alice_client, sbx, setup, consent="cancel")
    assert response.status_code == 400
    assert b"Consent was declined" in response.content
    assert f"/setup/{setup.pk}/authorize/".encode() in response.content
    setup.refresh_from_db()
    assert setup.authorized_at is None


def test_reloading_a_failed_callback_explains_the_failure_again(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice, client_secret=sbx.info["client_secret_id"])
    answer = sbx.browser_answer(start(alice_client, setup))
    posted = post_answer(alice_client, answer)
    first = outcome(alice_client, posted)
    assert first.status_code == 400 and b"client secret is not valid" in first.content
    # Reloading the outcome page, or the browser posting the answer again, explains the same failure.
    again = alice_client.get(posted["Location"])
    reposted = outcome(alice_client, post_answer(alice_client, answer))
    for response in (again, reposted):
        assert response.status_code == 400
        assert b"client secret is not valid" in response.content and b"AADSTS7000215" in response.content
        assert b"already completed" not in response.content
    assert Authorization.objects.count() == 0


@pytest.mark.parametrize("code", sorted(REQUIRED_CODES))
def test_it_explains_each_catalogued_error_on_the_redirect(alice_client, alice, sbx, make_setup, code):
    setup = make_setup(alice)
    state = dict(parse_qsl(urlsplit(start(alice_client, setup)).query))["state"]
    answer = {"error": "invalid_request", "state": state,
              "error_description": f"AADSTS{code}: something Azure said. Trace ID: 1234"}
    response = outcome(alice_client, post_answer(alice_client, ("/azure/callback/", answer)))
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
    url, answer = sbx.browser_answer(start(alice_client, setup))
    answer["state"] = answer["state"][:-2] + "xx"
    response = post_answer(alice_client, (url, answer))
    assert response.status_code == 400
    assert b"not recognised" in response.content
    assert Authorization.objects.count() == 0


def test_a_replayed_answer_is_not_redeemed_again(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    answer = sbx.browser_answer(start(alice_client, setup))
    assert outcome(alice_client, post_answer(alice_client, answer)).status_code == 302
    response = outcome(alice_client, post_answer(alice_client, answer))  # e.g. the browser resubmits the form
    assert response.status_code == 302 and response["Location"] == f"/setup/{setup.pk}/instance/"
    assert Authorization.objects.count() == 1
    assert AuditEvent.objects.filter(verb="setup.authorized").count() == 1


def test_it_refuses_an_expired_state(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    answer = sbx.browser_answer(start(alice_client, setup))
    AuthFlow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = post_answer(alice_client, answer)
    assert response.status_code == 400
    assert b"took too long" in response.content


def test_it_refuses_another_users_state(alice_client, alice, sbx, make_setup, dave_client):
    setup = make_setup(alice)
    answer = sbx.browser_answer(start(alice_client, setup))
    response = post_answer(dave_client, answer)
    assert response.status_code == 400
    assert b"started by someone else" in response.content
    assert f"/setup/{setup.pk}/".encode() not in response.content
    setup.refresh_from_db()
    assert setup.authorized_at is None
    # Nor does dave see the outcome of alice's sign-in.
    posted = post_answer(Client(), answer)
    response = dave_client.get(posted["Location"])
    assert response.status_code == 400 and b"started by someone else" in response.content
    assert f"/setup/{setup.pk}/".encode() not in response.content


def test_a_redeemed_code_is_refused_by_azure(alice, sbx, make_setup, alice_client):
    """Even past our state check (e.g. two portal replicas), the code itself is single-use: 54005."""
    setup = make_setup(alice)
    _, answer = sbx.browser_answer(start(alice_client, setup))
    pending = AuthFlow.objects.get(setup=setup).flow
    assert do_complete_authorization(user=alice, answer=answer).authorization is not None
    AuthFlow.objects.update(consumed_at=None, flow=pending)
    assert do_complete_authorization(user=alice, answer=answer).error_code == "AADSTS54005"
    with pytest.raises(AzureError) as failure:  # and our state check refuses it first anyway
        do_complete_authorization(user=alice, answer=answer)
    assert failure.value.code == "state_replayed"


@pytest.mark.parametrize("client_fixture, status", [("bob_client", 403), ("charlie_client", 403), ("client", 302)])
def test_only_admins_may_authorize(request, alice, sbx, make_setup, client_fixture, status):
    setup = make_setup(alice)
    response = request.getfixturevalue(client_fixture).post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == status
    assert AuthFlow.objects.count() == 0


def test_only_the_owner_may_authorize(alice, sbx, make_setup, dave_client):
    setup = make_setup(alice)
    assert dave_client.post(f"/azure/authorize/{setup.pk}/").status_code == 403


def test_authorize_needs_post(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    assert alice_client.get(f"/azure/authorize/{setup.pk}/").status_code == 405


def test_server_to_server_without_an_application_user_is_explained_before_create(alice_client, alice, sbx,
                                                                                 make_setup):
    """Azure AD issues the app token; only WhoAmI shows that Dataverse does not know the app."""
    setup = make_setup(alice, "s2s", client_id=sbx.info["no_app_user_client_id"],
                       client_secret=sbx.info["no_app_user_client_secret"])
    response = alice_client.post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == 400
    assert b"Dynamics CRM refused access" in response.content and b"application user" in response.content
    assert f'href="/setup/{setup.pk}/permissions/"'.encode() in response.content
    setup.refresh_from_db()
    assert setup.authorized_at is None and Authorization.objects.count() == 0
    _assert_no_secrets(response, sbx)
    assert sbx.info["no_app_user_client_secret"] not in response.content.decode()
