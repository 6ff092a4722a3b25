"""Certificate credentials through the management API, against the sandbox tenant: provisioning with a
certificate of your own or one the portal generates, and rotating to one (the pages' checks and errors)."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from setup_portal.azure.certificates import generate_certificate
from setup_portal.azure.client import register_sandbox_certificate
from setup_portal.instances.models import Instance
from setup_portal.wizard.models import Setup
from tests.instances.factories import sandbox_s2s_instance

from .conftest import key_client
from .test_provisioning import LIST, _follow

pytestmark = pytest.mark.django_db(transaction=True)


def _body(info: dict, **credentials) -> dict:
    return {"auth_type": "s2s", "dynamics_url": info["dynamics_url"], "tenant": info["tenant_id"],
            "name": "Contoso by certificate", "credentials": {"credential_kind": "certificate",
                                                              "client_id": info["s2s_client_id"], **credentials}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pfx(certificate, password: bytes) -> bytes:
    key = serialization.load_pem_private_key(certificate.private_key_pem.encode(), None)
    cert = x509.load_pem_x509_certificate(certificate.certificate_pem.encode())
    return pkcs12.serialize_key_and_certificates(b"portal", key, cert, None,
                                                 serialization.BestAvailableEncryption(password))


def _assert_ready_with(api, answer: dict, thumbprint: str, worker) -> dict:
    job = _follow(api, answer["job_url"])
    assert job["status"] == "succeeded", (job, worker.log())
    inst = api.get(answer["instance_url"])
    assert "PRIVATE KEY" not in inst.content.decode()
    body = inst.json()
    assert (body["status"], body["credential_kind"], body["certificate_thumbprint"]) == (
        "ready", "certificate", thumbprint)
    return body


def test_it_provisions_with_a_certificate_of_your_own(alice, sandbox, celery_worker):
    """A .pfx with its password, uploaded to the app registration beforehand, as an admin would."""
    certificate = generate_certificate("brought by a script")
    register_sandbox_certificate(client_id=sandbox.info["s2s_client_id"], certificate_pem=certificate.certificate_pem)
    api = key_client(alice)
    response = api.post(LIST, _body(sandbox.info, certificate=_b64(_pfx(certificate, b"pfx-pass")),
                                    certificate_password="pfx-pass"))
    assert response.status_code == 202, response.content
    _assert_ready_with(api, response.json(), certificate.thumbprint, celery_worker)
    inst = Instance.objects.get()
    assert inst.certificate_thumbprint == certificate.thumbprint and not inst.client_secret


def test_it_generates_a_certificate_and_provisions_once_it_is_uploaded(alice, sandbox, celery_worker):
    api = key_client(alice)
    body = _body(sandbox.info, generate=True)
    response = api.post(LIST, body)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert "PRIVATE KEY" not in response.content.decode()
    public = answer["certificate"]
    assert public["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert Setup.objects.get(pk=answer["setup"]).certificate_thumbprint == public["thumbprint"]
    assert not Instance.objects.exists()

    del body["credentials"]["generate"]
    refused = api.post(answer["provision_url"], body)  # not uploaded yet: Azure AD does not know it
    assert refused.status_code == 422, refused.content
    assert "AADSTS700027" in refused.json()["errors"]["credentials.certificate"][0]

    register_sandbox_certificate(client_id=sandbox.info["s2s_client_id"], certificate_pem=public["certificate_pem"])
    response = api.post(answer["provision_url"], body)
    assert response.status_code == 202, response.content
    _assert_ready_with(api, response.json(), public["thumbprint"], celery_worker)
    again = api.post(answer["provision_url"], body)
    assert again.status_code == 409  # the setup made its instance


def test_it_refuses_what_the_keys_page_refuses(alice, sandbox):
    api = key_client(alice)
    response = api.post(LIST, _body(sandbox.info, certificate=_b64(b"-----BEGIN nothing")))
    assert response.status_code == 422, response.content
    assert "no certificate" in response.json()["errors"]["credentials.certificate"][0]
    certificate = generate_certificate("wrong password")
    response = api.post(LIST, _body(sandbox.info, certificate=_b64(_pfx(certificate, b"right")),
                                    certificate_password="wrong"))
    assert response.status_code == 422 and "credentials.certificate_password" in response.json()["errors"]
    response = api.post(LIST, _body(sandbox.info, certificate="not base64!"))
    assert response.status_code == 400
    assert response.json()["errors"] == {"credentials.certificate": ["Send the file's bytes as base64."]}
    response = api.post(LIST, _body(sandbox.info))  # a certificate, but neither sent nor generated
    assert response.status_code == 422 and "credentials.certificate" in response.json()["errors"]
    assert not Instance.objects.exists()


def test_it_rotates_to_a_generated_certificate_once_it_is_uploaded(alice, sandbox, bob):
    inst = sandbox_s2s_instance(alice, sandbox.info)
    api = key_client(alice)
    url = f"{LIST}/{inst.pk}"
    assert api.post(f"{url}/certificate").status_code == 409  # nothing generated yet
    assert key_client(bob).post(f"{url}/next-certificate").status_code == 403
    response = api.post(f"{url}/next-certificate")
    assert response.status_code == 201, response.content
    public = response.json()
    assert "PRIVATE KEY" not in response.content.decode()
    refused = api.post(f"{url}/certificate")
    assert refused.status_code == 422 and refused.json()["code"] == "AADSTS700027"
    assert api.get(url).json()["credential_kind"] == "secret"  # the secret keeps working meanwhile
    register_sandbox_certificate(client_id=sandbox.info["s2s_client_id"], certificate_pem=public["certificate_pem"])
    response = api.post(f"{url}/certificate")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["credential_kind"], body["certificate_thumbprint"]) == ("certificate", public["thumbprint"])
    inst.refresh_from_db()
    assert not inst.client_secret and not inst.next_certificate_pem


def test_it_rotates_to_a_certificate_of_your_own(alice, sandbox):
    inst = sandbox_s2s_instance(alice, sandbox.info)
    certificate = generate_certificate("rotated by a script")
    pem = certificate.certificate_pem + certificate.private_key_pem
    api = key_client(alice)
    url = f"{LIST}/{inst.pk}/certificate"
    assert api.post(url, {"certificate": _b64(certificate.certificate_pem.encode())}).json()["errors"] == {
        "certificate": ["The PEM file holds the certificate but not its private key. The portal signs with the "
                        "private key: include it (-----BEGIN PRIVATE KEY-----)."]}
    register_sandbox_certificate(client_id=sandbox.info["s2s_client_id"], certificate_pem=certificate.certificate_pem)
    response = api.post(url, {"certificate": _b64(pem.encode())})
    assert response.status_code == 200, response.content
    assert response.json()["certificate_thumbprint"] == certificate.thumbprint
