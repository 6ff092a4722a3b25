"""Generating and checking certificate credentials (setup_portal/azure/certificates.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from setup_portal.azure.certificates import CertificateInvalid, generate_certificate, load_uploaded


def _self_signed(key, *, days=30, start_days=-1, hash_alg=None):
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upload")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now + dt.timedelta(days=start_days))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hash_alg or hashes.SHA256()))


def _pem(cert, key, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return (cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_it_generates_a_one_year_rsa_sha256_certificate():
    certificate = generate_certificate("Contoso CRM")
    cert = certificate.x509
    assert cert.public_key().key_size >= 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert 364 <= (certificate.not_after - dt.datetime.now(dt.UTC)).days <= 365
    assert "CN=Contoso CRM" == certificate.subject
    assert len(certificate.thumbprint) == 40 and certificate.thumbprint == certificate.thumbprint.upper()
    assert certificate.thumbprint == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert "PRIVATE KEY" not in repr(certificate) and certificate.private_key_pem not in repr(certificate)
    assert x509.load_der_x509_certificate(certificate.der()) == cert


def test_it_loads_a_pem_with_its_key(rsa_key):
    cert = _self_signed(rsa_key)
    loaded = load_uploaded(_pem(cert, rsa_key))
    assert loaded.x509 == cert


def test_it_loads_an_encrypted_pem_with_its_password(rsa_key):
    cert = _self_signed(rsa_key)
    assert load_uploaded(_pem(cert, rsa_key, b"pa55word"), "pa55word").x509 == cert
    with pytest.raises(CertificateInvalid) as missing:
        load_uploaded(_pem(cert, rsa_key, b"pa55word"))
    assert missing.value.field == "certificate_password" and "encrypted" in missing.value.message
    with pytest.raises(CertificateInvalid) as wrong:
        load_uploaded(_pem(cert, rsa_key, b"pa55word"), "nope")
    assert wrong.value.field == "certificate_password"


def test_it_loads_a_pfx_with_its_password(rsa_key):
    cert = _self_signed(rsa_key)
    pfx = pkcs12.serialize_key_and_certificates(b"upload", rsa_key, cert, None,
                                                serialization.BestAvailableEncryption(b"secret"))
    assert load_uploaded(pfx, "secret").x509 == cert
    with pytest.raises(CertificateInvalid) as wrong:
        load_uploaded(pfx, "wrong")
    assert wrong.value.field == "certificate_password"


@pytest.mark.parametrize(("make", "words"), [
    (lambda key: _pem(_self_signed(key, days=-1, start_days=-10), key), "expired"),
    (lambda key: _pem(_self_signed(key, start_days=5, days=30), key), "valid only from"),
    (lambda key: _self_signed(key).public_bytes(serialization.Encoding.PEM), "not its private key"),
    (lambda key: _pem(_self_signed(rsa.generate_private_key(public_exponent=65537, key_size=2048)), key),
     "does not belong"),
    (lambda key: _pem(_self_signed(small := rsa.generate_private_key(public_exponent=65537, key_size=1024)), small),
     "at least 2048"),
    (lambda key: _pem(_self_signed(ec_key := ec.generate_private_key(ec.SECP256R1())), ec_key), "not an RSA key"),
    (lambda key: b"-----BEGIN NOTHING-----\nabc\n-----END NOTHING-----\n", "holds no certificate"),
    (lambda key: b"\x00\x01garbage", "neither a PEM nor a PFX"),
    (lambda key: b"", "Choose the certificate file"),
    (lambda key: b"x" * (65 * 1024), "too large"),
], ids=["expired", "not-yet-valid", "no-key", "other-key", "small-key", "ec-key", "no-cert", "garbage", "empty",
        "too-large"])
def test_it_refuses_unusable_uploads_with_a_clear_message(rsa_key, make, words):
    with pytest.raises(CertificateInvalid) as refused:
        load_uploaded(make(rsa_key))
    assert words in refused.value.message
