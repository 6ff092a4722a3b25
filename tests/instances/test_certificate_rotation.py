"""Instances that sign in with a certificate: created from a certificate setup (the private key moves
to the instance), kept alive, reminded before the certificate expires, and rotated — generate or
upload the next one, verify it with a token request, switch."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.certificates import generate_certificate
from setup_portal.instances import keepalive
from setup_portal.instances.actions import do_delete_instance
from setup_portal.instances.models import Instance
from setup_portal.instances.tokens import acquire_token_for_instance
from setup_portal.wizard.actions import do_complete_stage, do_create_setup, do_fill_from_sandbox
from setup_portal.wizard.certificate_views import sandbox_changes
from setup_portal.wizard.models import Setup
from tests.azure.provisioning import authorize_setup, create_instance, wait_for_job

from .factories import make_instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def sbx(clean_sandbox):
    clean_sandbox.reset()
    return clean_sandbox


def _register(sandbox, client_id: str, pem: str) -> None:
    sandbox.admin("POST", f"apps/{client_id}/certificates", {"certificate": pem})


def _certificate_setup(owner, sandbox, auth_type: str = "s2s") -> Setup:
    """A setup filled from the sandbox whose Keys stage uses a certificate registered on the sandbox app."""
    setup = do_create_setup(acting_user=owner)
    Setup.objects.filter(pk=setup.pk).update(auth_type=auth_type)
    setup.refresh_from_db()
    do_fill_from_sandbox(setup, sandbox.info, acting_user=owner)
    do_complete_stage(setup, "keys", changes=sandbox_changes(setup, sandbox.info), started_at=None, source="sandbox",
                      acting_user=owner)
    setup.refresh_from_db()
    authorize_setup(setup, sandbox)
    setup.refresh_from_db()
    return setup


@pytest.fixture
def cert_instance(alice, sbx, celery_worker) -> Instance:
    setup = _certificate_setup(alice, sbx)
    key = str(setup.certificate_key)
    job = wait_for_job(create_instance(setup), celery_worker)
    assert job.status == "succeeded", [(s.key, s.detail) for s in job.steps.all()]
    setup.refresh_from_db()
    inst = Instance.objects.get(setup=setup)
    assert setup.certificate_key == "" and setup.certificate_thumbprint == inst.certificate_thumbprint
    assert str(inst.certificate_key) == key and inst.client_secret == "" and inst.status == "ready"
    return inst


def test_a_certificate_instance_provisions_and_gets_tokens(cert_instance):
    assert acquire_token_for_instance(cert_instance, force_refresh=True).access_token
    assert cert_instance.secret_expires_on == generate_certificate("x").expires_on


def test_an_oauth_setup_signs_in_with_a_certificate(alice, sbx):
    setup = _certificate_setup(alice, sbx, "oauth2")
    assert setup.authorized_at and setup.credential_kind == "certificate"
    create_instance(setup)
    inst = Instance.objects.get(setup=setup)
    # A refresh with the saved sign-in: the refresh-token grant authenticated by a fresh assertion.
    assert acquire_token_for_instance(inst, force_refresh=True).access_token


def test_it_rotates_to_a_generated_certificate_once_azure_accepts_it(alice_client, cert_instance, sbx):
    url = f"/instances/{cert_instance.pk}/rotate-secret/"
    page = html.unescape(alice_client.get(url).content.decode())
    assert "Rotate the certificate" in page and cert_instance.certificate_thumbprint in page
    old = cert_instance.certificate_thumbprint

    assert alice_client.post(url, {"action": "generate"}).status_code == 302
    cert_instance.refresh_from_db()
    pem = alice_client.get(f"/instances/{cert_instance.pk}/next-certificate.pem").content.decode()
    assert "BEGIN CERTIFICATE" in pem and "PRIVATE" not in pem

    refused = alice_client.post(url, {"action": "switch"})
    assert refused.status_code == 400 and "AADSTS700027" in refused.content.decode()
    cert_instance.refresh_from_db()
    assert cert_instance.certificate_thumbprint == old, "the current certificate stays until the new one works"
    assert AuditEvent.objects.filter(verb="instance.secret_rotation_failed").exists()

    _register(sbx, cert_instance.client_id, pem)
    Instance.objects.filter(pk=cert_instance.pk).update(reminders_sent={"2020-01-01": [30]})
    assert alice_client.post(url, {"action": "switch"}).status_code == 302
    cert_instance.refresh_from_db()
    assert cert_instance.certificate_thumbprint != old and cert_instance.next_certificate_key == ""
    assert cert_instance.reminders_sent == {}
    assert AuditEvent.objects.filter(verb="instance.certificate_rotated").exists()
    assert acquire_token_for_instance(cert_instance, force_refresh=True).access_token


def test_it_rotates_to_an_uploaded_certificate(alice_client, cert_instance, sbx):
    mine = generate_certificate("my next")
    _register(sbx, cert_instance.client_id, mine.certificate_pem)
    upload = SimpleUploadedFile("next.pem", (mine.certificate_pem + mine.private_key_pem).encode())
    response = alice_client.post(f"/instances/{cert_instance.pk}/rotate-secret/",
                                 {"action": "upload", "certificate_file": upload})
    assert response.status_code == 302
    cert_instance.refresh_from_db()
    assert cert_instance.certificate_thumbprint == mine.thumbprint


def test_it_explains_an_unusable_upload(alice_client, cert_instance):
    only_cert = generate_certificate("no key").certificate_pem.encode()
    response = alice_client.post(f"/instances/{cert_instance.pk}/rotate-secret/",
                                 {"action": "upload", "certificate_file": SimpleUploadedFile("c.pem", only_cert)})
    assert response.status_code == 400 and "not its private key" in response.content.decode()
    assert alice_client.post(f"/instances/{cert_instance.pk}/rotate-secret/",
                             {"action": "switch"}).status_code == 400


def test_team_leads_cannot_rotate_or_download(bob_client, alice):
    inst = make_instance(alice, credential_kind="certificate", certificate_thumbprint="AB" * 20)
    assert bob_client.post(f"/instances/{inst.pk}/rotate-secret/", {"action": "generate"}).status_code == 403
    assert bob_client.get(f"/instances/{inst.pk}/next-certificate.cer").status_code == 403


def test_reminders_speak_of_the_certificate(alice, bob):
    today = timezone.localdate()
    inst = make_instance(alice, name="contoso-cert", credential_kind="certificate", client_secret="", secret_hint="",
                         certificate_thumbprint="AB" * 20, secret_expires_on=today + dt.timedelta(days=7))
    assert keepalive.send_secret_reminders([str(inst.pk)], today=today) == 1
    (message,) = mail.outbox
    assert "certificate of contoso-cert" in message.subject
    assert "Generate the next certificate" in message.body and "New client secret" not in message.body


def test_deleting_erases_the_private_keys(alice, cert_instance):
    do_delete_instance(cert_instance, acting_user=alice)
    cert_instance.refresh_from_db()
    assert (cert_instance.certificate_key, cert_instance.next_certificate_key) == ("", "")


def test_a_certificate_azure_no_longer_knows_needs_rotation_and_rotating_fixes_it(alice_client, cert_instance, sbx):
    sbx.reset()  # the sandbox forgets certificates uploaded at runtime, as if someone removed it in Entra
    Instance.objects.filter(pk=cert_instance.pk).update(access_token_expires_at=None)
    assert keepalive.refresh_token(str(cert_instance.pk)) == "needs_reauth"
    cert_instance.refresh_from_db()
    assert (cert_instance.status, cert_instance.status_code) == ("needs_reauth", "AADSTS700027")
    assert "Rotate the certificate" in alice_client.get(f"/instances/{cert_instance.pk}/").content.decode()

    mine = generate_certificate("replacement")
    _register(sbx, cert_instance.client_id, mine.certificate_pem)
    upload = SimpleUploadedFile("next.pem", (mine.certificate_pem + mine.private_key_pem).encode())
    alice_client.post(f"/instances/{cert_instance.pk}/rotate-secret/", {"action": "upload", "certificate_file": upload})
    cert_instance.refresh_from_db()
    assert cert_instance.status == "ready" and cert_instance.status_code == ""
