"""The Keys stage's certificate pieces: generate one, fill in the sandbox's app with one, and
download the public certificate to upload in Entra (the private key is never offered)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from setup_portal.azure.certificates import Certificate, generate_certificate
from setup_portal.azure.client import AzureError, register_sandbox_certificate
from setup_portal.azure.clouds import AuthType
from setup_portal.teams.roles import reviewer_required

from . import actions
from .access import setup_for
from .keys_form import certificate_changes
from .models import Setup

DOWNLOADS = {"cer": "application/pkix-cert", "pem": "application/x-pem-file"}


def generate(request: HttpRequest, setup: Setup) -> HttpResponse:
    certificate = actions.do_generate_setup_certificate(setup, acting_user=request.user)
    messages.success(request, f"Generated a certificate (thumbprint {certificate.thumbprint}). Download it, upload "
                              "it to the app registration, then save this stage.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="keys")


def sandbox_changes(setup: Setup, sandbox: dict) -> dict:
    """Keys for the sandbox's app with a certificate: the one generated here (or a new one),
    registered on the app as an admin would upload it in Entra."""
    if setup.certificate_pem and setup.certificate_key:
        certificate = Certificate(setup.certificate_pem, str(setup.certificate_key))
    else:
        certificate = generate_certificate(f"Dynamics CRM Setup Portal {str(setup.pk)[:8]}")
    client_id = sandbox["s2s_client_id"] if setup.auth_type == AuthType.S2S else sandbox["client_id"]
    register_sandbox_certificate(client_id=client_id, certificate_pem=certificate.certificate_pem)
    return {"client_id": client_id, **certificate_changes(certificate)}


def fill_from_sandbox(request: HttpRequest, setup: Setup, sandbox: dict, started_at) -> HttpResponse | None:
    """Complete the stage with the sandbox's app and a certificate; None when the sandbox refused."""
    try:
        changes = sandbox_changes(setup, sandbox)
    except AzureError as exc:
        messages.error(request, f"The sandbox tenant did not take the certificate ({exc.code}). Is it running?")
        return redirect("wizard:stage", setup_id=setup.pk, stage="keys")
    actions.do_complete_stage(setup, "keys", changes=changes, started_at=started_at, source="sandbox",
                              acting_user=request.user)
    return None


@reviewer_required
def download(request: HttpRequest, setup_id: uuid.UUID, fmt: str) -> HttpResponse:
    """The public certificate as .cer (DER) or .pem, for "Upload certificate" in Entra."""
    setup = setup_for(request.user, setup_id,
                                  rows=Setup.objects.filter(status__in=[Setup.Status.DRAFT, Setup.Status.COMPLETED]))
    if fmt not in DOWNLOADS or not setup.certificate_pem:
        raise Http404("No certificate to download.")
    certificate = Certificate(setup.certificate_pem, "")
    body = certificate.der() if fmt == "cer" else certificate.certificate_pem.encode()
    response = HttpResponse(body, content_type=DOWNLOADS[fmt])
    response["Content-Disposition"] = f'attachment; filename="crm-portal-{certificate.thumbprint[:8].lower()}.{fmt}"'
    return response
