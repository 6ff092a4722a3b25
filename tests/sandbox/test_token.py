"""Client credentials, the password grant, client authentication and Microsoft's error shape."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest


def _dotdefault(info) -> list[str]:
    return [f"{info['dynamics_url']}/.default"]


def test_client_credentials_with_msal(sbx, info):
    result = sbx.confidential_client().acquire_token_for_client(_dotdefault(info))
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"


def test_client_secret_basic(sbx, info):
    credentials = f"{quote_plus(info['client_id'])}:{quote_plus(info['client_secret'])}"
    resp = sbx.session().post(info["endpoints"]["token"],
                              headers={"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()},
                              data={"grant_type": "client_credentials", "scope": _dotdefault(info)[0]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["access_token"]


def test_errors_have_microsofts_shape(sbx, info):
    resp = sbx.session().post(info["endpoints"]["token"], headers={"client-request-id": "abc-123"},
                              data={"grant_type": "client_credentials", "client_id": info["client_id"],
                                    "client_secret": "nope", "scope": _dotdefault(info)[0]})
    body = resp.json()
    assert resp.status_code == 401
    assert set(body) >= {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215: ")
    assert body["correlation_id"] == "abc-123"


@pytest.mark.parametrize("secret_key, code", [
    ("wrong-value", 7000215),
    ("client_secret_id", 7000215),  # the secret's ID pasted instead of its value
    ("expired_client_secret", 7000222),
])
def test_bad_client_secrets(sbx, info, secret_key, code):
    secret = info.get(secret_key, secret_key)
    result = sbx.confidential_client(client_credential=secret).acquire_token_for_client(_dotdefault(info))
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [code]


def test_an_aged_secret_expires(sbx, info):
    fresh = sbx.add_secret(days=30)
    assert "access_token" in sbx.confidential_client(client_credential=fresh["value"]).acquire_token_for_client(
        _dotdefault(info))
    sbx.expire_secret(secret_id=fresh["id"])
    result = sbx.confidential_client(client_credential=fresh["value"]).acquire_token_for_client(_dotdefault(info))
    assert result["error_codes"] == [7000222]


def test_an_unknown_app(sbx, info):
    app = sbx.confidential_client(client_id="00000000-1111-2222-3333-444444444444")
    result = app.acquire_token_for_client(_dotdefault(info))
    assert result["error"] == "unauthorized_client"
    assert result["error_codes"] == [700016]


def test_an_unknown_tenant_fails_discovery(sbx, info):
    with pytest.raises(ValueError, match="double check your tenant") as excinfo:
        sbx.confidential_client(authority=f"{info['backchannel_base']}/nosuch.onmicrosoft.com")
    assert "AADSTS90002" in str(excinfo.value.__context__)
    resp = sbx.session().post(f"{info['backchannel_base']}/nosuch.onmicrosoft.com/oauth2/v2.0/token",
                              data={"grant_type": "client_credentials", "client_id": info["client_id"]})
    assert resp.json()["error_codes"] == [90002]


def test_the_tenant_domain_works_as_authority(sbx, info):
    app = sbx.confidential_client(authority=f"{info['backchannel_base']}/{info['tenant_domain']}")
    assert "access_token" in app.acquire_token_for_client(_dotdefault(info))


def test_a_single_tenant_app_through_common(sbx, info):
    result = sbx.confidential_client(authority=f"{info['backchannel_base']}/common").acquire_token_for_client(
        _dotdefault(info))
    assert result["error_codes"] == [50194]


def test_client_credentials_need_dot_default(sbx, info):
    result = sbx.confidential_client().acquire_token_for_client([f"{info['dynamics_url']}/user_impersonation"])
    assert result["error"] == "invalid_scope"
    assert result["error_codes"] == [1002012]


def test_an_unknown_resource(sbx, info):
    result = sbx.confidential_client().acquire_token_for_client(["https://nosuch.crm.dynamics.com/.default"])
    assert result["error_codes"] == [500011]


def test_the_password_grant_through_a_public_client(sbx, info, user_scope):
    app = sbx.public_client()
    result = app.acquire_token_by_username_password(info["username"], info["password"], user_scope)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == info["username"]
    assert app.get_accounts()[0]["username"] == info["username"]


def test_the_password_grant_with_a_wrong_password(sbx, info, user_scope):
    result = sbx.public_client().acquire_token_by_username_password(info["username"], "wrong", user_scope)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [50126]


def test_the_password_grant_for_an_mfa_user(sbx, info, user_scope):
    result = sbx.public_client().acquire_token_by_username_password(info["mfa_username"], info["mfa_password"],
                                                                     user_scope)
    assert result["error"] == "interaction_required"
    assert result["error_codes"] == [50076]


def test_the_password_grant_without_consent(sbx, info, user_scope):
    # The portal's own app has no consent grant until someone accepts the consent page.
    result = sbx.confidential_client().acquire_token_by_username_password(info["username"], info["password"],
                                                                           user_scope)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [65001]
    assert result.get("suberror") == "consent_required"


def test_the_password_grant_for_a_resource_the_app_does_not_list(sbx, info, user_scope):
    app = sbx.confidential_client(client_id=info["no_app_user_client_id"],
                                  client_credential=info["no_app_user_client_secret"])
    result = app.acquire_token_by_username_password(info["username"], info["password"], user_scope)
    assert result["error_codes"] == [650057]


def test_a_public_client_must_not_send_a_secret(sbx, info, user_scope):
    resp = sbx.session().post(info["endpoints"]["token"], data={
        "grant_type": "password", "client_id": info["public_client_id"], "client_secret": "x",
        "username": info["username"], "password": info["password"], "scope": user_scope[0]})
    assert resp.json()["error_codes"] == [700025]


def test_an_unsupported_grant_type(sbx, info):
    resp = sbx.session().post(info["endpoints"]["token"], data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": info["public_client_id"]})
    assert resp.status_code == 400
    assert resp.json()["error"] == "unsupported_grant_type"


def test_the_token_endpoint_is_not_served_over_plain_http(sbx, info):
    resp = sbx.session().post(f"{info['browser_base']}/{info['tenant_id']}/oauth2/v2.0/token", data={})
    assert resp.status_code == 404
