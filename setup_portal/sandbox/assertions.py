"""Client assertions: how an app proves itself with a certificate instead of a secret.

The token endpoint gets `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
and a `client_assertion` JWT signed with the private key of a certificate registered on the app.
Checked here as Entra ID does: the `x5t#S256` (or `x5t`) header picks the certificate, the
signature (RS256 or PS256) must verify against it, `aud` is the token endpoint, `iss` and
`sub` are the client ID, `exp`/`nbf` hold now (at most ten minutes apart), and a `jti` is
present. Like Entra ID, one signed assertion may be sent again while it is valid (msal reuses
it for several token requests). RSA keys under 2,048 bits are refused (AADSTS50032), both when a
certificate is registered and when an assertion is signed with one.

Reference: https://learn.microsoft.com/entra/identity-platform/certificate-credentials
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .directory import App, Certificate
from .errors import AadError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS256", "PS256")
CLOCK_SKEW = 300
MIN_RSA_BITS = 2048
MAX_LIFETIME = 600 + 60  # msal asks for ten minutes; a minute more for the clocks


class _AssertionRegistry(jws.JWSRegistry):
    # msal puts the certificate chain (`x5c`) in the header for subject name/issuer auth,
    # well past joserfc's default header limit of 512 bytes.
    max_header_length = 16 * 1024


class WeakKey(ValueError):
    """A certificate whose RSA key is too short for Entra ID."""

    def __init__(self, bits: int):
        super().__init__(AadError(50032, bits=bits).description)


def certificate_from_pem(pem: str, description: str = "") -> Certificate:
    """A registrable certificate from its PEM; ValueError when it is not one, WeakKey when its
    RSA key is under 2,048 bits."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise WeakKey(key.key_size)
    der = cert.public_bytes(serialization.Encoding.DER)
    sha1 = hashes.Hash(hashes.SHA1())  # noqa: S303 - the x5t header is SHA-1 by definition
    sha1.update(der)
    sha256 = hashes.Hash(hashes.SHA256())
    sha256.update(der)
    return Certificate(pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
                       thumbprint=sha1.finalize().hex().upper(),
                       thumbprint_sha256=base64.urlsafe_b64encode(sha256.finalize()).decode().rstrip("="),
                       expires=cert.not_valid_after_utc.date(), description=description)


def _b64url_hex(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex().upper()
    except (binascii.Error, ValueError):
        return ""


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _header(assertion: str) -> dict:
    try:
        raw = assertion.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError):
        raise AadError(50027, reason="The client assertion is not a JWT (header.payload.signature).") from None
    if not isinstance(header, dict) or assertion.count(".") != 2:
        raise AadError(50027, reason="The client assertion is not a JWT (header.payload.signature).")
    return header


def _refuse_weak_signature(assertion: str) -> None:
    """An RSA signature is as long as the key's modulus: under 256 bytes means under 2,048 bits."""
    raw = assertion.rsplit(".", 1)[-1]
    try:
        size = len(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        return  # the signature check answers it
    if 0 < size * 8 < MIN_RSA_BITS:
        raise AadError(50032, bits=size * 8)


def _registered(app: App, header: dict) -> Certificate:
    # Compared without base64 padding: msal keeps it, other signers drop it.
    s256, sha1 = str(header.get("x5t#S256", "")).rstrip("="), _b64url_hex(str(header.get("x5t", "")).rstrip("="))
    if not s256 and not sha1:
        raise AadError(50027, reason="The client assertion's header names no certificate (x5t or x5t#S256).")
    used = s256 or sha1
    for certificate in app.certificates:
        if (s256 and certificate.thumbprint_sha256 == s256) or (not s256 and certificate.thumbprint == sha1):
            if certificate.expires < datetime.now(UTC).date():
                raise AadError(700027, reason="The key used is expired.", thumbprint=used, client_id=app.client_id)
            return certificate
    raise AadError(700027, reason="The key was not found.", thumbprint=used, client_id=app.client_id)


def _verified_claims(assertion: str, certificate: Certificate, alg: str, client_id: str) -> dict:
    key = RSAKey.import_key(x509.load_pem_x509_certificate(certificate.pem.encode()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    try:
        verified = jws.deserialize_compact(assertion, key, registry=_AssertionRegistry(algorithms=[alg]))
    except JoseError:
        raise AadError(700027, reason="The signature does not verify against the registered certificate.",
                       thumbprint=certificate.thumbprint, client_id=client_id) from None
    try:
        claims = json.loads(verified.payload)
    except ValueError:
        raise AadError(50027, reason="The client assertion's payload is not JSON.") from None
    if not isinstance(claims, dict):
        raise AadError(50027, reason="The client assertion's payload is not a JSON object.")
    return claims


def _audience_ok(aud: object, base: str, tenant_ok: Callable[[str], bool]) -> bool:
    audiences = aud if isinstance(aud, list) else [aud]
    for value in audiences:
        if not isinstance(value, str) or not value.startswith(base + "/"):
            continue
        segment, _, rest = urlsplit(value).path.lstrip("/").partition("/")
        if rest in ("oauth2/v2.0/token", "oauth2/token") and tenant_ok(segment):
            return True
    return False


def _check_times(claims: dict, now: float) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, int | float) or (nbf is not None and not isinstance(nbf, int | float)):
        raise AadError(50027, reason="The client assertion needs a numeric exp claim.")
    start = nbf if nbf is not None else now
    if exp + CLOCK_SKEW < now or start - CLOCK_SKEW > now or exp - start > MAX_LIFETIME:
        raise AadError(700024, now=_stamp(now), nbf=_stamp(start), exp=_stamp(exp))


def verify(assertion: str, *, app: App, base: str, tenant_ok: Callable[[str], bool],
           now: float | None = None) -> None:
    """Raise the AadError Entra ID would answer for this assertion, or return when it holds.

    `base`: the back channel's base URL (the audience is its token endpoint); `tenant_ok`: whether
    a path segment names this tenant.
    """
    now = time.time() if now is None else now
    header = _header(assertion)
    alg = str(header.get("alg", ""))
    if alg not in ALGORITHMS:
        raise AadError(50027, reason=f"The signing algorithm '{alg}' is not supported; use RS256 or PS256.")
    _refuse_weak_signature(assertion)
    certificate = _registered(app, header)
    claims = _verified_claims(assertion, certificate, alg, app.client_id)
    iss, sub = str(claims.get("iss", "")), str(claims.get("sub", ""))
    if iss.lower() != app.client_id.lower() or sub.lower() != app.client_id.lower():
        raise AadError(700021)
    if not _audience_ok(claims.get("aud"), base, tenant_ok):
        raise AadError(700023)
    _check_times(claims, now)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise AadError(50027, reason="The client assertion needs a jti claim.")
