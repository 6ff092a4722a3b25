"""Certificate credentials for an app registration: generate a self-signed one, or check one
an admin brings (PEM or PFX), and the thumbprints Microsoft Entra ID identifies it by.

Model-free: bytes and strings in, a `Certificate` out, or `CertificateInvalid` with a message
meant for the field the admin filled in. The private key stays inside `Certificate` (never in
its repr); the caller stores it in an encrypted field.

Reference: https://learn.microsoft.com/entra/identity-platform/certificate-credentials
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.db import models

MIN_KEY_BITS = 2048
GENERATED_KEY_BITS = 2048
GENERATED_DAYS = 365
MAX_UPLOAD_BYTES = 64 * 1024
_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.S)


class CredentialKind(models.TextChoices):
    """How a confidential app proves itself to Azure AD."""

    SECRET = "secret", "Client secret"
    CERTIFICATE = "certificate", "Certificate"


class CertificateInvalid(ValueError):
    """What is wrong with an uploaded certificate, worded for the admin."""

    def __init__(self, message: str, *, field: str = "certificate_file"):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Certificate:
    certificate_pem: str
    private_key_pem: str = field(repr=False)

    @property
    def x509(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER certificate in upper-case hex: what Entra's Certificates list shows."""
        return thumbprint_of(self.certificate_pem)

    @property
    def thumbprint_sha256(self) -> str:
        """The `x5t#S256` header value: base64url of the SHA-256 of the DER certificate."""
        return x5t_s256(self.certificate_pem)

    @property
    def not_after(self) -> dt.datetime:
        return self.x509.not_valid_after_utc

    @property
    def expires_on(self) -> dt.date:
        return self.not_after.date()

    @property
    def subject(self) -> str:
        return self.x509.subject.rfc4514_string()

    def der(self) -> bytes:
        """The public certificate alone, DER-encoded: the .cer file Entra accepts."""
        return self.x509.public_bytes(serialization.Encoding.DER)


def _der(certificate_pem: str) -> bytes:
    return x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)


def thumbprint_of(certificate_pem: str) -> str:
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 - Entra names certificates by their SHA-1 thumbprint
    digest.update(_der(certificate_pem))
    return digest.finalize().hex().upper()


def x5t_s256(certificate_pem: str) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(_der(certificate_pem))
    return base64.urlsafe_b64encode(digest.finalize()).decode().rstrip("=")


def _pkcs8(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def generate_certificate(common_name: str, *, days: int = GENERATED_DAYS,
                         now: dt.datetime | None = None) -> Certificate:
    """A new RSA key and a self-signed SHA-256 certificate for it, valid `days` from now."""
    now = now or dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "Dynamics CRM Setup Portal")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A few minutes back, so a clock a little behind ours does not see it as not yet valid.
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Certificate(certificate.public_bytes(serialization.Encoding.PEM).decode(), _pkcs8(key))


def load_uploaded(data: bytes, password: str = "", *, now: dt.datetime | None = None) -> Certificate:
    """A PEM (certificate + private key) or PFX/PKCS#12 file, checked: the key matches the
    certificate, the certificate is valid now, and the key is RSA of at least 2048 bits."""
    if not data:
        raise CertificateInvalid("Choose the certificate file (.pem with its private key, or .pfx).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise CertificateInvalid("That file is too large to be a certificate (64 KB at most).")
    if b"-----BEGIN" in data:
        certificate, key = _from_pem(data, password)
    else:
        certificate, key = _from_pfx(data, password)
    _check(certificate, key, now or dt.datetime.now(dt.UTC))
    return Certificate(certificate.public_bytes(serialization.Encoding.PEM).decode(), _pkcs8(key))


def _from_pem(data: bytes, password: str):
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateInvalid("The PEM file holds no certificate (-----BEGIN CERTIFICATE-----). Include the "
                                 "certificate and its private key in the one file.") from None
    block = _PEM_KEY.search(data)
    if block is None:
        raise CertificateInvalid("The PEM file holds the certificate but not its private key. The portal signs "
                                 "with the private key: include it (-----BEGIN PRIVATE KEY-----).")
    try:
        key = serialization.load_pem_private_key(block.group(0), password=password.encode() or None)
    except TypeError:
        if password:
            raise CertificateInvalid("This private key is not encrypted; leave the password empty.",
                                     field="certificate_password") from None
        raise CertificateInvalid("This private key is encrypted; enter its password.",
                                 field="certificate_password") from None
    except ValueError:
        if password:
            raise CertificateInvalid("The password does not open this private key.",
                                     field="certificate_password") from None
        raise CertificateInvalid("The private key in the file could not be read.") from None
    except Exception:  # cryptography raises UnsupportedAlgorithm for keys it cannot read
        raise CertificateInvalid("The private key in the file could not be read.") from None
    # The certificate for this key, when the file carries a chain.
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    matching = [c for c in certificates
                if c.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo) == public]
    return (matching or certificates)[0], key


def _from_pfx(data: bytes, password: str):
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, password.encode() or None)
    except ValueError:
        if password:
            raise CertificateInvalid("The password does not open this PFX file, or the file is not a certificate.",
                                     field="certificate_password") from None
        raise CertificateInvalid("This is neither a PEM nor a PFX certificate file, or the PFX needs its "
                                 "password.") from None
    if certificate is None:
        raise CertificateInvalid("The PFX file holds no certificate.")
    if key is None:
        raise CertificateInvalid("The PFX file holds no private key. Export it with the private key included.")
    return certificate, key


def _check(certificate: x509.Certificate, key, now: dt.datetime) -> None:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateInvalid("The key is not an RSA key. Azure AD signs client assertions with RSA keys "
                                 f"of at least {MIN_KEY_BITS} bits.")
    if key.key_size < MIN_KEY_BITS:
        raise CertificateInvalid(f"The key has {key.key_size} bits; use an RSA key of at least {MIN_KEY_BITS} bits.")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (certificate.public_key().public_bytes(serialization.Encoding.DER, public)
            != key.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise CertificateInvalid("The private key does not belong to this certificate. Upload the key that was "
                                 "created with it.")
    if certificate.not_valid_after_utc <= now:
        raise CertificateInvalid(f"This certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}; "
                                 "Azure AD would refuse it. Create a new one.")
    if certificate.not_valid_before_utc > now:
        raise CertificateInvalid(f"This certificate is valid only from {certificate.not_valid_before_utc:%Y-%m-%d}.")
