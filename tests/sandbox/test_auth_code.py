"""The authorization-code flow with PKCE through the real msal, the sign-in and consent
pages submitted as a browser would, and the id_token checked against the JWKS."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import REDIRECT_URI, query_of


def _sign_in(sbx, app, scopes, redirect_uri=REDIRECT_URI, **kwargs):
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri)
    location = sbx.browser_sign_in(flow["auth_uri"], **kwargs)
    return flow, location


def test_it_completes_the_auth_code_flow_with_msal(sbx, info, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope)
    assert location.startswith(REDIRECT_URI)
    assert query_of(location)["state"] == flow["state"]

    result = app.acquire_token_by_auth_code_flow(flow, query_of(location))

    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == info["username"]
    assert result["refresh_token"]
    (account,) = app.get_accounts()
    assert account["home_account_id"] == f"{result['id_token_claims']['oid']}.{info['tenant_id']}"
    claims = jwt.decode(result["access_token"], _jwks(sbx), algorithms=["RS256"]).claims
    assert claims["aud"] == info["dynamics_url"]
    assert claims["scp"] == "user_impersonation"


def test_the_id_token_verifies_against_the_jwks(sbx, info, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope)
    result = app.acquire_token_by_auth_code_flow(flow, query_of(location))

    token = jwt.decode(result["id_token"], _jwks(sbx), algorithms=["RS256"])

    assert token.header["kid"] in {k["kid"] for k in _jwks_doc(sbx)["keys"]}
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": f"{info['backchannel_base']}/{info['tenant_id']}/v2.0"},
        aud={"essential": True, "value": info["client_id"]},
        # msal sends the SHA-256 of its nonce in the authorize request.
        exp={"essential": True}, nonce={"essential": True, "value": hashlib.sha256(flow["nonce"].encode()).hexdigest()},
        tid={"essential": True, "value": info["tenant_id"]},
    )
    registry.validate(token.claims)
    assert token.claims["exp"] > time.time()
    assert token.claims["name"] == "Adele Vance"


def _jwks_doc(sbx) -> dict:
    return sbx.session().get(info_endpoint(sbx, "jwks")).json()


def _jwks(sbx) -> KeySet:
    return KeySet.import_key_set(_jwks_doc(sbx))


def info_endpoint(sbx, name: str) -> str:
    return sbx.info["endpoints"][name]


def test_consent_is_asked_once_then_remembered(sbx, user_scope):
    app = sbx.confidential_client()
    _sign_in(sbx, app, user_scope)
    flow = app.initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    browser = sbx.session()
    page = browser.get(flow["auth_uri"])
    form = sbx._form(page)
    resp = browser.post(page.url.split("/oauth2/")[0] + "/login",
                        data=dict(form["fields"], username=sbx.info["username"], password=sbx.info["password"]),
                        allow_redirects=False)
    assert resp.status_code == 302, "a second sign-in must not show the consent page again"
    assert "code" in query_of(resp.headers["Location"])


def test_the_sign_in_page_has_labelled_fields(sbx, user_scope):
    flow = sbx.confidential_client().initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    page = sbx.session().get(flow["auth_uri"])
    assert page.status_code == 200
    for needle in ('id="username"', 'id="password"', 'for="username"', 'for="password"', ">Sign in</button>",
                   "Sandbox tenant — not Microsoft"):
        assert needle in page.text


def test_the_sign_in_page_hints_the_sandbox_user_and_password(sbx, user_scope):
    flow = sbx.confidential_client().initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    page = sbx.session().get(flow["auth_uri"])
    assert (f"sign in as <code>{sbx.info['username']}</code> with the password "
            f"<code>{sbx.info['password']}</code>") in page.text


def test_a_wrong_password_is_shown_on_the_page(sbx, user_scope):
    flow = sbx.confidential_client().initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    browser = sbx.session()
    page = browser.get(flow["auth_uri"])
    form = sbx._form(page)
    resp = browser.post(page.url.split("/oauth2/")[0] + "/login",
                        data=dict(form["fields"], username=sbx.info["username"], password="wrong"))
    assert resp.status_code == 200
    assert "Your account or password is incorrect" in resp.text
    assert "AADSTS50126" in resp.text


def test_cancelling_consent_returns_access_denied(sbx, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope, consent="cancel")
    query = query_of(location)
    assert query["error"] == "access_denied"
    assert query["error_description"].startswith("AADSTS65004: User declined to consent")
    assert query["state"] == flow["state"]


def test_an_ordinary_user_needs_admin_consent(sbx, user_scope):
    app = sbx.confidential_client()
    _flow, location = _sign_in(sbx, app, user_scope, username="lee@contoso.onmicrosoft.com",
                               password="Sandbox-User-Pass-1!")
    query = query_of(location)
    assert query["error"] == "access_denied"
    assert query["error_description"].startswith("AADSTS90094")


def test_admin_consent_lets_ordinary_users_in(sbx, info, user_scope):
    url = info["endpoints"]["adminconsent"] + "?" + urlencode(
        {"client_id": info["client_id"], "redirect_uri": REDIRECT_URI, "state": "s1",
         "scope": f"{info['dynamics_url']}/.default"})
    location = sbx.browser_sign_in(url)
    assert query_of(location) == {"admin_consent": "True", "tenant": info["tenant_id"],
                                  "scope": f"{info['dynamics_url']}/.default", "state": "s1"}

    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope, username="lee@contoso.onmicrosoft.com",
                              password="Sandbox-User-Pass-1!")
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, query_of(location))


def test_any_loopback_port_is_a_valid_redirect_uri(sbx, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope, redirect_uri="http://localhost:18199/azure/callback/")
    assert location.startswith("http://localhost:18199/azure/callback/?code=")
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, query_of(location))


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/azure/callback/",
                                          "http://127.0.0.1:8000/azure/CALLBACK/"])
def test_a_redirect_uri_mismatch_shows_an_error_page(sbx, user_scope, redirect_uri):
    flow = sbx.confidential_client().initiate_auth_code_flow(user_scope, redirect_uri=redirect_uri)
    page = sbx.session().get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 400
    assert "AADSTS50011" in page.text


def test_an_unknown_app_shows_an_error_page(sbx, user_scope):
    app = sbx.confidential_client(client_id="00000000-1111-2222-3333-444444444444")
    flow = app.initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    page = sbx.session().get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 400
    assert "AADSTS700016" in page.text


def test_an_unknown_tenant_is_rejected(sbx, info, user_scope):
    base = info["browser_base"]
    page = sbx.session().get(f"{base}/nosuchtenant.onmicrosoft.com/oauth2/v2.0/authorize",
                             params={"client_id": info["client_id"], "redirect_uri": REDIRECT_URI,
                                     "response_type": "code", "scope": user_scope[0]})
    assert page.status_code == 400
    assert "AADSTS90002" in page.text


def test_a_single_tenant_app_cannot_use_common(sbx, info, user_scope):
    url = f"{info['browser_base']}/common/oauth2/v2.0/authorize?" + urlencode(
        {"client_id": info["client_id"], "redirect_uri": REDIRECT_URI, "response_type": "code",
         "scope": user_scope[0], "state": "x"})
    location = sbx.session().get(url, allow_redirects=False).headers["Location"]
    assert query_of(location)["error_description"].startswith("AADSTS50194")


def test_a_multi_tenant_app_works_through_organizations(sbx, user_scope):
    multi = "95d91dd5-f8b5-45a3-92cb-7220728d4100"
    app = sbx.confidential_client(client_id=multi, client_credential="sbx8Q~PartnerSecretValue-0003tuvGH",
                                  authority=f"{sbx.info['backchannel_base']}/organizations")
    flow, location = _sign_in(sbx, app, user_scope)
    result = app.acquire_token_by_auth_code_flow(flow, query_of(location))
    assert result["id_token_claims"]["tid"] == sbx.info["tenant_id"]


def test_a_resource_missing_from_the_app_permissions_is_refused(sbx, info, user_scope):
    app = sbx.confidential_client(client_id=info["no_app_user_client_id"],
                                  client_credential=info["no_app_user_client_secret"])
    flow = app.initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    location = sbx.session().get(flow["auth_uri"], allow_redirects=False).headers["Location"]
    assert query_of(location)["error_description"].startswith("AADSTS650057")


def test_prompt_none_without_a_session_needs_login(sbx, user_scope):
    flow = sbx.confidential_client().initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI, prompt="none")
    location = sbx.session().get(flow["auth_uri"], allow_redirects=False).headers["Location"]
    assert query_of(location)["error"] == "login_required"


def test_a_code_is_single_use(sbx, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope)
    assert "access_token" in app.acquire_token_by_auth_code_flow(dict(flow), query_of(location))

    replay = sbx.confidential_client().acquire_token_by_auth_code_flow(dict(flow), query_of(location))

    assert replay["error"] == "invalid_grant"
    assert replay["error_codes"] == [54005]


def test_the_pkce_verifier_must_match(sbx, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope)
    flow["code_verifier"] = "x" * 43

    result = app.acquire_token_by_auth_code_flow(flow, query_of(location))

    assert result["error_codes"] == [501481]


def test_refresh_rotates_the_refresh_token(sbx, info, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope)
    first = app.acquire_token_by_auth_code_flow(flow, query_of(location))

    second = sbx.confidential_client().acquire_token_by_refresh_token(first["refresh_token"], user_scope)

    assert "access_token" in second, second
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = sbx.confidential_client().acquire_token_by_refresh_token(second["refresh_token"], user_scope)
    assert third["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}


def test_acquire_token_silent_refreshes_through_the_cache(sbx, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope)
    first = app.acquire_token_by_auth_code_flow(flow, query_of(location))
    (account,) = app.get_accounts()

    again = app.acquire_token_silent(user_scope, account=account, force_refresh=True)

    assert again["token_source"] == "identity_provider"
    assert again["access_token"] != first["access_token"]


def test_an_expired_refresh_token_is_refused(sbx, user_scope):
    app = sbx.confidential_client()
    flow, location = _sign_in(sbx, app, user_scope)
    first = app.acquire_token_by_auth_code_flow(flow, query_of(location))
    assert sbx.expire_refresh_tokens(client_id=sbx.info["client_id"]) >= 1

    result = sbx.confidential_client().acquire_token_by_refresh_token(first["refresh_token"], user_scope)

    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [700082]


def test_logout_returns_to_the_app(sbx, info):
    resp = sbx.session().get(info["endpoints"]["logout"],
                             params={"post_logout_redirect_uri": "http://127.0.0.1:8000/"}, allow_redirects=False)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "http://127.0.0.1:8000/"


def test_form_post_response_mode(sbx, user_scope):
    app = sbx.confidential_client()
    flow = app.initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI, response_mode="form_post")
    browser = sbx.session()
    page = browser.get(flow["auth_uri"])
    form = sbx._form(page)
    consent_page = browser.post(page.url.split("/oauth2/")[0] + "/login",
                                data=dict(form["fields"], username=sbx.info["username"],
                                          password=sbx.info["password"]))
    consent = sbx._form(consent_page)
    post_page = browser.post(consent_page.url.rsplit("/", 1)[0] + "/consent",
                             data=dict(consent["fields"], action="accept"))
    posted = sbx._form(post_page)
    assert posted["action"] == REDIRECT_URI
    assert posted["fields"]["state"] == flow["state"]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, posted["fields"])
