"""The portal's sign-in certificate and the client assertion it signs.

Microsoft identity platform certificate credentials: a JWT with header alg PS256, typ JWT and
`x5t#S256` (base64url SHA-256 of the certificate's DER), claims aud = the token endpoint,
iss = sub = the client ID, a fresh jti, nbf/iat now and exp ten minutes on, signed with the
certificate's private key. https://learn.microsoft.com/entra/identity-platform/certificate-credentials
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHM = "PS256"
LIFETIME = 600
MIN_RSA_BITS = 2048


class CredentialError(ValueError):
    """A certificate or key file that cannot be used; `part` is "certificate" or "key"."""

    def __init__(self, message: str, *, part: str):
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class Credential:
    x5t_s256: str
    key: RSAKey = field(repr=False)  # never in a repr, a log line or a page

    def assertion(self, *, client_id: str, token_url: str) -> str:
        now = int(time.time())
        header = {"alg": ALGORITHM, "typ": "JWT", "x5t#S256": self.x5t_s256}
        claims = {"aud": token_url, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
                  "nbf": now, "iat": now, "exp": now + LIFETIME}
        return jwt.encode(header, claims, self.key, algorithms=[ALGORITHM])


def _read(path: str, part: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read {path!r}: {exc.strerror or exc}", part=part) from None


def load(certificate_file: str, key_file: str = "") -> Credential:
    """The credential from a PEM certificate and its unencrypted PEM private key (in the same file
    when `key_file` is empty). CredentialError says what is wrong with which file."""
    cert_data = _read(certificate_file, "certificate")
    try:
        certificate = x509.load_pem_x509_certificate(cert_data)
    except ValueError:
        raise CredentialError(f"{certificate_file!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                              part="certificate") from None
    key_path = key_file or certificate_file
    key_data = _read(key_path, "key")
    try:
        private_key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError):
        raise CredentialError(f"{key_path!r} holds no unencrypted PEM private key", part="key") from None
    if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < MIN_RSA_BITS:
        raise CredentialError(f"the key in {key_path!r} is not an RSA key of {MIN_RSA_BITS} bits or more", part="key")
    if private_key.public_key().public_numbers() != certificate.public_key().public_numbers():
        raise CredentialError(f"the key in {key_path!r} is not the certificate's key", part="key")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(certificate.public_bytes(serialization.Encoding.DER))
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return Credential(x5t_s256=base64.urlsafe_b64encode(digest.finalize()).decode().rstrip("="),
                      key=RSAKey.import_key(pem))
