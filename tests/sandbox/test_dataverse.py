"""The Dataverse Web API subset and its bearer-token checks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}


def _get(sbx, path: str, token: str | None):
    headers = dict(HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return sbx.session().get(sbx.info["endpoints"]["webapi"] + path, headers=headers)


@pytest.fixture
def app_token(sbx, info) -> str:
    return sbx.confidential_client().acquire_token_for_client([f"{info['dynamics_url']}/.default"])["access_token"]


@pytest.fixture
def user_token(sbx, info, user_scope) -> str:
    result = sbx.public_client().acquire_token_by_username_password(info["username"], info["password"], user_scope)
    return result["access_token"]


def _mint(sbx, key: RSAKey | None = None, **overrides) -> str:
    """A token like the sandbox's, optionally signed by another key or with changed claims."""
    real = RSAKey.import_key((Path(sbx.info["ca_cert_path"]).parent / "signing-key.pem").read_bytes())
    now = int(time.time())
    claims = {"aud": sbx.info["dynamics_url"], "iss": f"{sbx.info['backchannel_base']}/{sbx.info['tenant_id']}/v2.0",
              "iat": now, "nbf": now, "exp": now + 3600, "tid": sbx.info["tenant_id"], "idtyp": "app",
              "appid": sbx.info["client_id"], "ver": "2.0"}
    claims.update(overrides)
    return jwt.encode({"alg": "RS256", "kid": real.thumbprint(), "typ": "JWT"}, claims, key or real)


def test_whoami_with_an_app_token(sbx, info, app_token):
    resp = _get(sbx, "WhoAmI", app_token)
    assert resp.status_code == 200
    body = resp.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
    assert set(body) == {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"}
    assert resp.headers["OData-Version"] == "4.0"


def test_whoami_with_a_user_token(sbx, user_token):
    resp = _get(sbx, "WhoAmI", user_token)
    assert resp.status_code == 200
    assert resp.json()["UserId"] == "2669c436-a44b-4378-847e-056637807138"


def test_organization_entity_definitions_and_accounts(sbx, info, app_token):
    path = "RetrieveCurrentOrganization(AccessType=@p1)?@p1=Microsoft.Dynamics.CRM.EndpointAccessType'Default'"
    org = _get(sbx, path, app_token).json()
    assert org["Detail"]["FriendlyName"] == info["organization_name"]
    assert org["Detail"]["TenantId"] == info["tenant_id"]
    assert org["Detail"]["OrganizationType"] == "CustomerTest"  # the enum's member name, as the Web API writes it
    names = [e["LogicalName"] for e in _get(sbx, "EntityDefinitions?$select=LogicalName", app_token).json()["value"]]
    assert "account" in names
    accounts = _get(sbx, "accounts?$top=1", app_token).json()["value"]
    assert len(accounts) == 1 and accounts[0]["name"]
    assert _get(sbx, "organizations", app_token).json()["value"][0]["friendlyname"] == info["organization_name"]


def test_no_token_gets_a_challenge(sbx, info):
    resp = _get(sbx, "WhoAmI", None)
    assert resp.status_code == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization_uri=")
    assert f"resource_id={info['dynamics_url']}/" in challenge
    # An empty body, as Dataverse's: nothing that calls itself a page.
    assert resp.content == b"" and "Content-Type" not in resp.headers


def test_an_expired_token(sbx):
    past = int(time.time()) - 7200
    resp = _get(sbx, "WhoAmI", _mint(sbx, iat=past, nbf=past, exp=past + 60))
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert "expired" in resp.headers["WWW-Authenticate"]


def test_a_wrong_audience_token(sbx, info):
    graph = sbx.confidential_client().acquire_token_for_client(["https://graph.microsoft.com/.default"])
    resp = _get(sbx, "WhoAmI", graph["access_token"])
    assert resp.status_code == 401
    assert "audience" in resp.headers["WWW-Authenticate"]
    assert _get(sbx, "WhoAmI", _mint(sbx, aud="https://other.crm.dynamics.com")).status_code == 401


def test_a_forged_token(sbx):
    forger = RSAKey.generate_key(2048, private=True)
    resp = _get(sbx, "WhoAmI", _mint(sbx, key=forger))
    assert resp.status_code == 401
    assert "signature" in resp.headers["WWW-Authenticate"]
    assert _get(sbx, "WhoAmI", "not-a-jwt").status_code == 401


def test_a_minted_token_with_the_real_key_is_accepted(sbx):
    # Guards the tests above: their tokens fail for the stated reason only.
    assert _get(sbx, "WhoAmI", _mint(sbx)).status_code == 200


def test_an_app_without_an_application_user_gets_403(sbx, info):
    app = sbx.confidential_client(client_id=info["no_app_user_client_id"],
                                  client_credential=info["no_app_user_client_secret"])
    token = app.acquire_token_for_client([f"{info['dynamics_url']}/.default"])["access_token"]
    resp = _get(sbx, "WhoAmI", token)
    assert resp.status_code == 403
    assert resp.json() == {"error": {"code": "0x80072560", "message": "The user is not a member of the organization."}}


def test_an_application_user_without_a_security_role(sbx, info):
    app = sbx.confidential_client(client_id="95d91dd5-f8b5-45a3-92cb-7220728d4100",
                                  client_credential="sbx8Q~PartnerSecretValue-0003tuvGH")
    token = app.acquire_token_for_client([f"{info['dynamics_url']}/.default"])["access_token"]
    assert _get(sbx, "WhoAmI", token).status_code == 200
    resp = _get(sbx, "accounts?$top=1", token)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "0x80040220"


def test_an_unknown_entity_set(sbx, app_token):
    resp = _get(sbx, "nosuchthings", app_token)
    assert resp.status_code == 404
    assert "nosuchthings" in resp.json()["error"]["message"]


def test_a_token_checked_once_still_expires(sbx):
    # Verified tokens are remembered; the expiry must still be enforced on each use.
    now = int(time.time())
    token = _mint(sbx, iat=now - 3600, nbf=now - 3600, exp=now - 298)  # within the 5-minute skew for ~2 s
    assert _get(sbx, "WhoAmI", token).status_code == 200
    time.sleep(3)
    resp = _get(sbx, "WhoAmI", token)
    assert resp.status_code == 401
    assert "expired" in resp.headers["WWW-Authenticate"]
