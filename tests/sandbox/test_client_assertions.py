"""Certificate credentials at the sandbox's token endpoint: the real msal signs client assertions
(RS256 with x5t, PS256 with x5t#S256) for every grant, and bad assertions are refused with
Entra ID's codes."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import RSAKey

from setup_portal.azure.certificates import generate_certificate

from .conftest import LEE, REDIRECT_URI, query_of

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def cert(sbx, info):
    """A certificate registered on the sandbox's confidential app."""
    certificate = generate_certificate("sandbox test")
    answer = sbx.admin("POST", f"apps/{info['client_id']}/certificates", {"certificate": certificate.certificate_pem})
    assert answer["thumbprint"] == certificate.thumbprint
    assert answer["thumbprint_sha256"] == certificate.thumbprint_sha256
    return certificate


def _sha1_credential(certificate) -> dict:
    return {"private_key": certificate.private_key_pem, "thumbprint": certificate.thumbprint}


def _sha256_credential(certificate) -> dict:
    return {"private_key": certificate.private_key_pem, "public_certificate": certificate.certificate_pem}


def _app_scope(info) -> list[str]:
    return [f"{info['dynamics_url']}/.default"]


@pytest.mark.parametrize("credential", [_sha1_credential, _sha256_credential], ids=["rs256-x5t", "ps256-x5t-s256"])
def test_it_issues_app_tokens_for_a_registered_certificate(sbx, info, cert, credential):
    app = sbx.confidential_client(client_credential=credential(cert))
    result = app.acquire_token_for_client(_app_scope(info))
    assert "access_token" in result, result.get("error_description")


def test_it_completes_the_auth_code_flow_and_refreshes_with_a_certificate(sbx, info, cert, user_scope):
    # The refresh goes through another application object with the SHA-1 thumbprint: both kinds of header.
    app = sbx.confidential_client(client_credential=_sha256_credential(cert))
    flow = app.initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    location = sbx.browser_sign_in(flow["auth_uri"])
    result = app.acquire_token_by_auth_code_flow(flow, query_of(location))
    assert "access_token" in result and result["refresh_token"], result

    again = sbx.confidential_client(client_credential=_sha1_credential(cert))
    refreshed = again.acquire_token_by_refresh_token(result["refresh_token"], user_scope)
    assert "access_token" in refreshed, refreshed
    # Delegated tokens name the client's authentication too.
    assert _claims(result["access_token"])["azpacr"] == _claims(refreshed["access_token"])["azpacr"] == "2"


def _claims(token: str) -> dict:
    raw = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def test_msal_reuses_one_assertion_for_several_requests_and_tokens_say_certificate(sbx, info, cert):
    app = sbx.confidential_client(client_credential=_sha256_credential(cert))
    other_environment = info["dynamics_url"].replace("/dataverse/contoso", "/dataverse/contoso-eu")
    first = app.acquire_token_for_client(_app_scope(info))
    second = app.acquire_token_for_client([f"{other_environment}/.default"])
    assert "access_token" in first and "access_token" in second, second.get("error_description")
    assert first["token_source"] == second["token_source"] == "identity_provider"
    assert _claims(first["access_token"])["azpacr"] == _claims(second["access_token"])["azpacr"] == "2"
    with_secret = sbx.confidential_client().acquire_token_for_client(_app_scope(info))
    assert _claims(with_secret["access_token"])["azpacr"] == "1"


def test_a_public_clients_tokens_say_it_did_not_authenticate(sbx, user_scope):
    result = sbx.public_client().acquire_token_by_username_password(*LEE, user_scope)
    assert _claims(result["access_token"])["azpacr"] == "0", result.get("error_description")


def _weak_certificate() -> tuple[str, str]:
    """A self-signed certificate on a 1024-bit RSA key: (certificate PEM, private key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_it_refuses_a_1024_bit_key_when_registered_and_when_used(sbx, info):
    certificate_pem, key_pem = _weak_certificate()
    registered = sbx.session().post(f"{info['backchannel_base']}/_sandbox/apps/{info['client_id']}/certificates",
                                    json={"certificate": certificate_pem})
    assert registered.status_code == 400 and registered.json()["error_codes"] == [50032]
    assert "WeakRsaKey" in registered.json()["error_description"]

    app = sbx.confidential_client(client_credential={"private_key": key_pem, "public_certificate": certificate_pem})
    result = app.acquire_token_for_client(_app_scope(info))
    assert result["error_codes"] == [50032], result
    assert "AADSTS50032: WeakRsaKey" in result["error_description"]


def test_it_refuses_a_certificate_not_registered_on_the_app(sbx, info, cert):
    stranger = generate_certificate("not uploaded")
    app = sbx.confidential_client(client_credential=_sha256_credential(stranger))
    result = app.acquire_token_for_client(_app_scope(info))
    assert result["error_codes"] == [700027] and "The key was not found" in result["error_description"]


# --- hand-made assertions ----------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _assertion(info, certificate, *, key_pem=None, alg="RS256", header=None, **claims) -> str:
    now = int(time.time())
    payload = {"aud": f"{info['authority']}/oauth2/v2.0/token", "iss": info["client_id"], "sub": info["client_id"],
               "jti": str(uuid.uuid4()), "nbf": now, "iat": now, "exp": now + 600}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    protected = {"alg": alg, "typ": "JWT", "x5t": _b64(bytes.fromhex(certificate.thumbprint))}
    protected.update(header or {})
    protected = {k: v for k, v in protected.items() if v is not None}
    key = RSAKey.import_key(key_pem or certificate.private_key_pem)
    return jws.serialize_compact(protected, json.dumps(payload).encode(), key, algorithms=[alg])


def _token(sbx, info, assertion: str, **extra):
    data = {"grant_type": "client_credentials", "client_id": info["client_id"],
            "scope": f"{info['dynamics_url']}/.default", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, **extra}
    return sbx.session().post(f"{info['authority']}/oauth2/v2.0/token", data=data)


def test_a_hand_made_assertion_may_be_sent_again_while_it_is_valid(sbx, info, cert):
    """As Entra ID does: msal re-sends one signed assertion for several token requests."""
    assertion = _assertion(info, cert)
    first = _token(sbx, info, assertion)
    assert first.status_code == 200, first.text
    second = _token(sbx, info, assertion)
    assert second.status_code == 200, second.text


@pytest.mark.parametrize(("change", "code"), [
    ({"iss": "11111111-2222-3333-4444-555555555555"}, 700021),
    ({"sub": "11111111-2222-3333-4444-555555555555"}, 700021),
    ({"aud": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"}, 700023),
    ({"exp": int(time.time()) - 3600, "nbf": int(time.time()) - 4000, "iat": None}, 700024),
    ({"nbf": int(time.time()) + 3600, "exp": int(time.time()) + 3900}, 700024),
    ({"exp": int(time.time()) + 7200}, 700024),
    ({"jti": None}, 50027),
], ids=["iss", "sub", "aud", "expired", "not-yet", "too-long", "no-jti"])
def test_it_refuses_bad_claims_with_azures_codes(sbx, info, cert, change, code):
    response = _token(sbx, info, _assertion(info, cert, **change))
    assert response.json()["error_codes"] == [code], response.text
    assert response.json()["error"] in {"invalid_client", "invalid_request"}


def test_it_refuses_a_signature_by_another_key(sbx, info, cert):
    other = generate_certificate("other key")
    response = _token(sbx, info, _assertion(info, cert, key_pem=other.private_key_pem))
    assert response.json()["error_codes"] == [700027]
    assert "does not verify" in response.json()["error_description"]


@pytest.mark.parametrize("assertion", ["not-a-jwt", "a.b.c", ""], ids=["garbage", "bad-parts", "empty"])
def test_it_refuses_malformed_assertions(sbx, info, cert, assertion):
    response = _token(sbx, info, assertion)
    assert response.status_code in {400, 401}
    assert response.json()["error_codes"][0] in {50027, 900144}


def test_it_refuses_an_unsupported_algorithm_and_a_missing_thumbprint(sbx, info, cert):
    assert _token(sbx, info, _assertion(info, cert, alg="RS384")).json()["error_codes"] == [50027]
    unnamed = _assertion(info, cert, header={"x5t": None})
    assert _token(sbx, info, unnamed).json()["error_codes"] == [50027]


def test_it_refuses_a_wrong_assertion_type(sbx, info, cert):
    response = _token(sbx, info, _assertion(info, cert), client_assertion_type="urn:other")
    assert response.json()["error_codes"] == [900144]


def test_it_reads_the_client_id_from_the_assertion_when_the_request_leaves_it_out(sbx, info, cert):
    response = _token(sbx, info, _assertion(info, cert), client_id="")
    assert response.status_code == 200, response.text


def test_the_certificate_hook_refuses_what_is_not_a_certificate(sbx, info):
    response = sbx.session().post(f"{info['backchannel_base']}/_sandbox/apps/{info['client_id']}/certificates",
                                  json={"certificate": "hello"})
    assert response.status_code == 400
    unknown = sbx.session().post(f"{info['backchannel_base']}/_sandbox/apps/{uuid.uuid4()}/certificates",
                                 json={"certificate": "hello"})
    assert unknown.status_code == 404
