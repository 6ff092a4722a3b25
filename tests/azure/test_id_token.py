"""Our own id_token checks (msal checks only the nonce): tokens forged here with joserfc.

The HTTP side (discovery and keys from the sandbox, a domain resolved to its tenant ID) is in
test_client.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from setup_portal.azure.id_token import IdTokenInvalid, tenant_id_from_issuer, verify_id_token

TENANT = "6f1c2a44-0b7e-4d4f-9d2c-3a1e5b7c9d01"
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "0b9f3c1e-8a47-4d6e-9f21-5c3b7a1d2e4f"
ISSUER = f"https://login.example.test/{TENANT}/v2.0"


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "tenant-key-1", "use": "sig"}, private=True)


@pytest.fixture(scope="module")
def jwks(signing_key) -> dict:
    return KeySet([signing_key]).as_dict(private=False)


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "tid": TENANT, "oid": "b1b2", "sub": "s",
              "preferred_username": "admin@contoso.onmicrosoft.com", "iat": now, "nbf": now, "exp": now + 3600,
              "nonce": "n-123"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key, claims: dict, alg: str = "RS256", kid: str = "tenant-key-1") -> str:
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key, algorithms=[alg])


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _check(token: str, jwks: dict, **kwargs) -> dict:
    options = {"jwks": jwks, "issuer": ISSUER, "audience": CLIENT_ID, "nonce": "n-123", "tenant_id": TENANT}
    options.update(kwargs)
    return verify_id_token(token, **options)


def test_it_accepts_a_good_token(signing_key, jwks):
    claims = _check(_sign(signing_key, _claims()), jwks)
    assert claims["preferred_username"] == "admin@contoso.onmicrosoft.com"


MULTI_TENANT_ISSUER = "https://login.example.test/{tenantid}/v2.0"


def test_it_fills_the_tenant_into_a_multi_tenant_issuer(signing_key, jwks):
    claims = _check(_sign(signing_key, _claims()), jwks, issuer=MULTI_TENANT_ISSUER)
    assert claims["tid"] == TENANT


def test_it_pins_the_tenant_under_a_multi_tenant_issuer(signing_key, jwks):
    """organizations/common discovery names no tenant: a token from any other directory must still fail."""
    token = _sign(signing_key, _claims(tid=OTHER_TENANT, iss=f"https://login.example.test/{OTHER_TENANT}/v2.0"))
    with pytest.raises(IdTokenInvalid, match="another tenant"):
        _check(token, jwks, issuer=MULTI_TENANT_ISSUER)


def test_it_refuses_without_a_tenant_to_pin(signing_key, jwks):
    with pytest.raises(IdTokenInvalid, match="another tenant"):
        _check(_sign(signing_key, _claims()), jwks, tenant_id="")


def test_it_compares_the_tenant_without_case(signing_key, jwks):
    assert _check(_sign(signing_key, _claims()), jwks, tenant_id=TENANT.upper())["tid"] == TENANT


def test_it_accepts_several_audiences_when_azp_is_this_app(signing_key, jwks):
    claims = _check(_sign(signing_key, _claims(aud=[CLIENT_ID, "api://other"], azp=CLIENT_ID)), jwks)
    assert claims["azp"] == CLIENT_ID


@pytest.mark.parametrize("overrides, words", [
    ({"aud": [CLIENT_ID, "api://other"]}, "azp is missing"),
    ({"aud": [CLIENT_ID, "api://other"], "azp": "api://other"}, "azp is another app"),
    ({"aud": ["api://other"], "azp": CLIENT_ID}, "aud"),
    ({"azp": "someone-else"}, "azp is another app"),
])
def test_it_checks_the_authorized_party(signing_key, jwks, overrides, words):
    with pytest.raises(IdTokenInvalid, match=words):
        _check(_sign(signing_key, _claims(**overrides)), jwks)


@pytest.mark.parametrize("issuer, tenant", [
    (f"https://login.microsoftonline.com/{TENANT}/v2.0", TENANT),
    (f"https://127.0.0.1:8443/{TENANT.upper()}/v2.0/", TENANT),
    (MULTI_TENANT_ISSUER, None),
    ("https://sts.windows.net/not-a-guid/", None),
    ("", None),
])
def test_it_reads_the_tenant_from_a_concrete_issuer(issuer, tenant):
    assert tenant_id_from_issuer(issuer) == tenant


def test_it_refuses_a_token_signed_by_another_key(jwks):
    forger = RSAKey.generate_key(2048, parameters={"kid": "tenant-key-1"}, private=True)
    with pytest.raises(IdTokenInvalid, match="signature"):
        _check(_sign(forger, _claims()), jwks)


def test_it_refuses_alg_none(jwks):
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."
    with pytest.raises(IdTokenInvalid, match="algorithm 'none'"):
        _check(token, jwks)


def test_it_refuses_hs256_signed_with_the_public_key(signing_key, jwks):
    # The classic confusion attack: HMAC keyed with the published RSA public key
    # (signed by hand: joserfc itself refuses to use a public key as an HMAC secret).
    public_pem = signing_key.as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': 'tenant-key-1'})}.{_b64(_claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(IdTokenInvalid, match="HS256"):
        _check(token, jwks)


def test_it_refuses_a_wrong_audience(signing_key, jwks):
    with pytest.raises(IdTokenInvalid, match="aud"):
        _check(_sign(signing_key, _claims(aud="someone-else")), jwks)


def test_it_refuses_an_expired_token(signing_key, jwks):
    past = int(time.time()) - 7200
    with pytest.raises(IdTokenInvalid, match="expired"):
        _check(_sign(signing_key, _claims(iat=past, nbf=past, exp=past + 600)), jwks)


def test_it_refuses_a_token_not_yet_valid(signing_key, jwks):
    future = int(time.time()) + 3600
    with pytest.raises(IdTokenInvalid, match="not yet valid"):
        _check(_sign(signing_key, _claims(nbf=future, exp=future + 3600)), jwks)


def test_it_refuses_a_wrong_issuer(signing_key, jwks):
    with pytest.raises(IdTokenInvalid, match="iss"):
        _check(_sign(signing_key, _claims(iss="https://evil.example/v2.0")), jwks)


def test_it_refuses_another_tenant(signing_key, jwks):
    token = _sign(signing_key, _claims(tid=OTHER_TENANT, iss=f"https://login.example.test/{OTHER_TENANT}/v2.0"))
    with pytest.raises(IdTokenInvalid, match="tenant"):
        _check(token, jwks)


def test_it_refuses_a_token_without_tid(signing_key, jwks):
    with pytest.raises(IdTokenInvalid, match="tid"):
        _check(_sign(signing_key, _claims(tid=None)), jwks)


def test_it_refuses_a_wrong_nonce(signing_key, jwks):
    with pytest.raises(IdTokenInvalid, match="nonce"):
        _check(_sign(signing_key, _claims(nonce="replayed")), jwks)


def test_it_refuses_garbage(jwks):
    with pytest.raises(IdTokenInvalid):
        _check("not-a-jwt", jwks)
