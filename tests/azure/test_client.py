"""The Azure AD client against the sandbox: authorities, and the id_token pinned to the setup's
directory with tokens forged by the sandbox's own signing key (fetched keys and discovery are real)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings
from joserfc.jwk import RSAKey

from setup_portal.azure.client import AzureError, Credentials, authority_for, verified_claims
from setup_portal.sandbox import tokens

OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
MULTI_TENANT_APP = "95d91dd5-f8b5-45a3-92cb-7220728d4100"  # "Fabrikam Partner Connector" in the sandbox seed


def test_authorities_follow_the_cloud():
    assert authority_for(cloud="public", tenant="contoso.onmicrosoft.com", use_sandbox=False) == \
        "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert authority_for(cloud="usgov", tenant="t", use_sandbox=False) == "https://login.microsoftonline.us/t"
    assert authority_for(cloud="china", tenant="t", use_sandbox=False) == "https://login.partner.microsoftonline.cn/t"


def test_a_portal_without_the_sandbox_refuses_sandbox_authorities(settings):
    settings.SANDBOX_ENABLED = False
    with pytest.raises(AzureError) as refused:
        authority_for(cloud="public", tenant="d0eb022d-4c6a-47ce-be10-44cf1b99e082", use_sandbox=True)
    assert refused.value.code == "sandbox_disabled"


def _sandbox_key() -> RSAKey:
    return RSAKey.import_key((Path(settings.SANDBOX_DIR) / "signing-key.pem").read_bytes())


def _forge(sbx, *, tid: str, client_id: str, key: RSAKey | None = None, **overrides) -> str:
    key = key or _sandbox_key()
    now = int(time.time())
    claims = {"iss": tokens.issuer(sbx.info["backchannel_base"], tid), "aud": client_id, "tid": tid,
              "oid": "b1b2", "sub": "s", "preferred_username": "mallory@fabrikam.example", "iat": now, "nbf": now,
              "exp": now + 600}
    claims.update(overrides)
    return tokens.sign(key, key.thumbprint(), claims)


def _creds(sbx, *, tenant: str, client_id: str | None = None) -> Credentials:
    return Credentials(cloud="public", tenant=tenant, use_sandbox=True, auth_type="oauth2",
                       dynamics_url=sbx.info["dynamics_url"], client_id=client_id or sbx.info["client_id"])


def test_a_domain_is_resolved_to_its_tenant_id(sbx):
    tenant_id = sbx.info["tenant_id"]
    claims = verified_claims(_creds(sbx, tenant=sbx.info["tenant_domain"]),
                             _forge(sbx, tid=tenant_id, client_id=sbx.info["client_id"]), nonce=None)
    assert claims["tid"] == tenant_id


@pytest.mark.parametrize("tenant", ["domain", "tenant_id"])
def test_a_token_from_another_tenant_is_refused(sbx, tenant):
    """Signed by a key the tenant publishes (as in a real multi-tenant key set), but for another directory."""
    creds = _creds(sbx, tenant=sbx.info[f"tenant_{tenant}" if tenant == "domain" else tenant])
    with pytest.raises(AzureError, match="another tenant") as refused:
        verified_claims(creds, _forge(sbx, tid=OTHER_TENANT, client_id=creds.client_id), nonce=None)
    assert refused.value.code == "id_token_invalid"


def test_a_multi_tenant_app_is_pinned_to_the_setups_tenant(sbx):
    creds = _creds(sbx, tenant=sbx.info["tenant_id"], client_id=MULTI_TENANT_APP)
    assert verified_claims(creds, _forge(sbx, tid=sbx.info["tenant_id"], client_id=MULTI_TENANT_APP), nonce=None)
    with pytest.raises(AzureError, match="another tenant"):
        verified_claims(creds, _forge(sbx, tid=OTHER_TENANT, client_id=MULTI_TENANT_APP), nonce=None)


@pytest.mark.parametrize("alias", ["organizations", "common"])
def test_a_multi_tenant_authority_names_no_tenant_to_trust(sbx, alias):
    """/organizations and /common publish the `{tenantid}` issuer: accepting any tid there is the bug."""
    creds = _creds(sbx, tenant=alias, client_id=MULTI_TENANT_APP)
    with pytest.raises(AzureError, match="does not resolve to one tenant") as refused:
        verified_claims(creds, _forge(sbx, tid=OTHER_TENANT, client_id=MULTI_TENANT_APP), nonce=None)
    assert refused.value.code == "id_token_invalid"


def test_a_token_signed_by_another_key_is_refused(sbx):
    forger = RSAKey.generate_key(2048, private=True)
    with pytest.raises(AzureError, match="signature"):
        verified_claims(_creds(sbx, tenant=sbx.info["tenant_id"]),
                        _forge(sbx, tid=sbx.info["tenant_id"], client_id=sbx.info["client_id"], key=forger),
                        nonce=None)


def test_several_audiences_need_this_app_as_authorized_party(sbx):
    creds = _creds(sbx, tenant=sbx.info["tenant_id"])
    token = _forge(sbx, tid=sbx.info["tenant_id"], client_id=creds.client_id, aud=[creds.client_id, MULTI_TENANT_APP],
                   azp=MULTI_TENANT_APP)
    with pytest.raises(AzureError, match="azp"):
        verified_claims(creds, token, nonce=None)
