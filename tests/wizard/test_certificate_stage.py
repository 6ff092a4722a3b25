"""Stage 4 with a certificate: generate one (or upload a PEM/PFX), download the public part for
Entra, and save once Azure AD (the sandbox) issues a token signed with it."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.certificates import generate_certificate
from setup_portal.wizard.models import Setup, StageRecord

from .helpers import new_setup, sandbox_values, stage_url, walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys_stage(alice_client, clean_sandbox):
    clean_sandbox.reset()
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys", sandbox_values())
    return setup


def _register(sandbox, pem: str) -> None:
    sandbox.admin("POST", f"apps/{sandbox.info['client_id']}/certificates", {"certificate": pem})


def _errors(response, name: str) -> str:
    return " ".join(str(e) for e in response.context["form"].errors.get(name, []))


def test_it_generates_a_certificate_to_download_and_saves_once_azure_knows_it(alice_client, keys_stage, sandbox):
    url = stage_url(keys_stage, "keys")
    assert alice_client.post(url, {"certificate": "generate"}).status_code == 302
    keys_stage.refresh_from_db()
    assert keys_stage.credential_kind == "certificate" and keys_stage.certificate_thumbprint
    assert AuditEvent.objects.filter(verb="setup.certificate_generated").exists()

    page = html.unescape(alice_client.get(url).content.decode())
    assert keys_stage.certificate_thumbprint in page and "Certificates & secrets → Certificates" in page
    assert "PRIVATE KEY" not in page and str(keys_stage.certificate_key) not in page
    der = alice_client.get(f"/setup/{keys_stage.pk}/certificate.cer")
    assert der["Content-Disposition"].startswith("attachment;")
    assert x509.load_der_x509_certificate(b"".join(der.streaming_content) if der.streaming else der.content)
    pem = alice_client.get(f"/setup/{keys_stage.pk}/certificate.pem").content
    assert b"BEGIN CERTIFICATE" in pem and b"PRIVATE" not in pem

    # Not uploaded to the app yet: Azure AD refuses it at the certificate field.
    data = {"client_id": sandbox.info["client_id"], "credential_kind": "certificate"}
    refused = alice_client.post(url, data)
    assert refused.status_code == 400 and "AADSTS700027" in _errors(refused, "certificate_file")

    _register(sandbox, pem.decode())
    saved = alice_client.post(url, data)
    assert saved.status_code == 302, _errors(saved, "certificate_file")
    page = html.unescape(alice_client.get(saved["Location"]).content.decode())
    assert "accepted this client ID and certificate" in page
    keys_stage.refresh_from_db()
    assert keys_stage.client_secret == "" and keys_stage.secret_expires_on > dt.date.today() + dt.timedelta(days=300)
    record = StageRecord.objects.get(setup=keys_stage, stage="keys", valid=True, invalidated_at__isnull=True)
    assert record.values["certificate_thumbprint"] == keys_stage.certificate_thumbprint
    assert "PRIVATE" not in str(record.values) and "BEGIN CERTIFICATE" not in str(record.values)


def test_it_takes_an_uploaded_pfx_with_its_password(alice_client, keys_stage, sandbox):
    certificate = generate_certificate("my own")
    key = serialization.load_pem_private_key(certificate.private_key_pem.encode(), None)
    pfx = pkcs12.serialize_key_and_certificates(b"mine", key, certificate.x509, None,
                                                serialization.BestAvailableEncryption(b"pfx-pass"))
    _register(sandbox, certificate.certificate_pem)
    data = {"client_id": sandbox.info["client_id"], "credential_kind": "certificate", "certificate_password": "wrong",
            "certificate_file": SimpleUploadedFile("mine.pfx", pfx, "application/x-pkcs12")}
    wrong = alice_client.post(stage_url(keys_stage, "keys"), data)
    assert wrong.status_code == 400 and "password does not open" in _errors(wrong, "certificate_password")
    failed = StageRecord.objects.filter(setup=keys_stage, stage="keys", valid=False).latest("id")
    assert "wrong" not in str(failed.values), "the password typed is never recorded"

    data.update(certificate_password="pfx-pass", certificate_file=SimpleUploadedFile("mine.pfx", pfx))
    response = alice_client.post(stage_url(keys_stage, "keys"), data)
    assert response.status_code == 302, response.context and _errors(response, "certificate_file")
    keys_stage.refresh_from_db()
    assert keys_stage.certificate_thumbprint == certificate.thumbprint
    assert str(keys_stage.certificate_key).startswith("-----BEGIN PRIVATE KEY-----")


def test_it_explains_an_unusable_upload_at_the_field(alice_client, keys_stage, sandbox):
    only_cert = generate_certificate("no key").certificate_pem.encode()
    response = alice_client.post(stage_url(keys_stage, "keys"), {
        "client_id": sandbox.info["client_id"], "credential_kind": "certificate",
        "certificate_file": SimpleUploadedFile("c.pem", only_cert)})
    assert response.status_code == 400 and "not its private key" in _errors(response, "certificate_file")


def test_it_asks_for_a_certificate_when_none_is_there(alice_client, keys_stage, sandbox):
    response = alice_client.post(stage_url(keys_stage, "keys"),
                                 {"client_id": sandbox.info["client_id"], "credential_kind": "certificate"})
    assert response.status_code == 400 and "Generate a certificate" in _errors(response, "certificate_file")


def test_the_sandbox_button_registers_a_certificate_on_the_sandbox_app(alice_client, keys_stage, sandbox):
    response = alice_client.post(stage_url(keys_stage, "keys"), {"fill": ["sandbox", "sandbox-certificate"]})
    assert response.status_code == 302 and response["Location"] == stage_url(keys_stage, "permissions")
    keys_stage.refresh_from_db()
    assert keys_stage.credential_kind == "certificate" and keys_stage.client_id == sandbox.info["client_id"]
    # Registered: a second registration of the same certificate answers with the same thumbprint.
    again = sandbox.admin("POST", f"apps/{sandbox.info['client_id']}/certificates",
                          {"certificate": keys_stage.certificate_pem})
    assert again["thumbprint"] == keys_stage.certificate_thumbprint


def test_switching_back_to_a_secret_drops_the_certificate(alice_client, keys_stage, sandbox):
    alice_client.post(stage_url(keys_stage, "keys"), {"fill": ["sandbox", "sandbox-certificate"]})
    values = sandbox_values()["keys"]
    response = alice_client.post(stage_url(keys_stage, "keys"), {**values, "credential_kind": "secret"})
    assert response.status_code == 302
    keys_stage.refresh_from_db()
    assert (keys_stage.credential_kind, keys_stage.certificate_key, keys_stage.certificate_pem) == ("secret", "", "")
    assert keys_stage.client_secret == values["client_secret"]


def test_downloads_need_a_certificate_and_access(alice_client, charlie_client, keys_stage):
    assert alice_client.get(f"/setup/{keys_stage.pk}/certificate.cer").status_code == 404
    alice_client.post(stage_url(keys_stage, "keys"), {"certificate": "generate"})
    assert alice_client.get(f"/setup/{keys_stage.pk}/certificate.exe").status_code == 404
    assert charlie_client.get(f"/setup/{keys_stage.pk}/certificate.cer").status_code in {302, 403}


def test_generating_voids_a_saved_keys_stage(alice_client, keys_stage, sandbox):
    alice_client.post(stage_url(keys_stage, "keys"), {"fill": "sandbox"})
    alice_client.post(stage_url(keys_stage, "keys"), {"certificate": "generate"})
    keys_stage.refresh_from_db()
    assert keys_stage.current_stage == "keys"
    assert not StageRecord.objects.filter(setup=keys_stage, stage="keys", valid=True,
                                          invalidated_at__isnull=True).exists()
    assert Setup.objects.get(pk=keys_stage.pk).client_secret, "the secret stays until the stage is saved again"


def test_it_refuses_a_huge_upload_without_reading_it_all(alice_client, keys_stage, sandbox):
    response = alice_client.post(stage_url(keys_stage, "keys"), {
        "client_id": sandbox.info["client_id"], "credential_kind": "certificate",
        "certificate_file": SimpleUploadedFile("big.pem", b"-----BEGIN CERTIFICATE-----" + b"A" * 2_000_000)})
    assert response.status_code == 400 and "too large" in _errors(response, "certificate_file")
