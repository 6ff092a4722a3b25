"""Certificate credentials through the API, as the Keys stage and the rotate page handle them.

A certificate the caller brings (PEM or PFX, base64 in JSON) passes the pages' own checks
(azure.certificates through their forms) and Azure AD's token request. A generated one cannot
be checked until its public part is in the app registration, so the portal answers with that
part and the caller comes back once it is uploaded: `POST /setups/{id}/provision` for a new
instance, `POST /instances/{id}/certificate` for a rotation. The private key never leaves.
"""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework.response import Response

from setup_portal.azure.certificates import Certificate
from setup_portal.azure.client import AzureError
from setup_portal.azure.errors import explain
from setup_portal.instances import actions
from setup_portal.instances.lifecycle_forms import RotateCertificateForm
from setup_portal.teams import permissions
from setup_portal.wizard.access import setup_for
from setup_portal.wizard.models import Setup

from ..problems import Problem
from . import examples as ex
from . import serializers as s
from .base import ManagementView, instance_for, invalid
from .fields import file_bytes
from .instances import ID, _detail
from .provisioning import API_NAMES, provision, wants_generated_certificate
from .schema import operation

SAME_BODY = {"auth_type": "s2s", "dynamics_url": "https://127.0.0.1:8443/dataverse/contoso",
             "tenant": "contoso.onmicrosoft.com", "name": "Contoso sales",
             "credentials": {"credential_kind": "certificate", "client_id": "1b2c3d4e-0000-4a5b-8c9d-112233445566"}}
SETUP_ID = OpenApiParameter("setup_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The setup's id.")


def _refused(exc: AzureError) -> Problem:
    explanation = explain(exc.code)
    if exc.retryable:
        return Problem(503, f"Azure AD could not be reached ({exc.code}); nothing changed. Try again.",
                       code=exc.code, headers={"Retry-After": "30"})
    return Problem(422, f"Azure AD refused the certificate: {explanation.title} ({exc.code}).", code=exc.code,
                   slug="credentials-refused", fix=explanation.what_to_do, errors={"certificate": [explanation.title]})


class SetupProvision(ManagementView):
    @operation(
        summary="Provision from a setup", operation_id="provisionSetup",
        description="The second half of `POST /instances` with `credentials.generate`: once the generated "
                    "certificate is uploaded to the app registration, send the same body again here (with "
                    "`credential_kind` certificate and no `generate`). The stages run again over the setup, the "
                    "Keys stage with its certificate (Azure AD is asked whether it accepts it), then as "
                    "`POST /instances`: 202 with the job. The setup's owner, or an admin of its team.",
        parameters=[SETUP_ID], request=s.InstanceCreateIn,
        responses={202: OpenApiResponse(s.ProvisioningStarted, description="Provisioning is queued.")},
        errors=(400, 404, 409, 422, 503),
        error_text={409: "The setup is not a draft any more (it made its instance, or was discarded), or another "
                         "instance has this name.",
                    422: "A stage's rules refused a value (as for `POST /instances`), or Azure AD does not know "
                         "the certificate yet (AADSTS700027: upload it first)."},
        examples=[OpenApiExample("The same body, the certificate now uploaded (sandbox tenant)", request_only=True,
                                 value=SAME_BODY), ex.PROVISIONING_QUEUED],
        tags=["Setups"])
    def post(self, request, setup_id):
        setup = setup_for(request.user, setup_id, rows=Setup.objects.exclude(status=Setup.Status.DISCARDED))
        if setup.status != Setup.Status.DRAFT:
            raise Problem(409, "This setup is not a draft any more; start a new one with POST /api/v1/instances.")
        permissions.check(permissions.can_edit_setup, request.user, setup)
        body = s.InstanceCreateIn(data=request.data)
        body.is_valid(raise_exception=True)
        if wants_generated_certificate(body.validated_data):
            raise Problem(422, "Some values are not valid.", slug="validation", errors={
                "credentials.generate": ["This setup has its certificate; leave `generate` out to use it."]})
        outcome = provision(body.validated_data, user=request.user, setup=setup,
                            api_key_prefix=getattr(request.auth, "prefix", ""))
        if outcome.job is None:
            raise Problem(409, "OAuth 2.0 needs a person to sign in: continue in the wizard.",
                          wizard_url=request.build_absolute_uri(reverse("wizard:stage",
                                                                        args=[setup.pk, "authorize"])))
        job_url = reverse("rest:job", args=[outcome.job.pk])
        return Response({"instance": outcome.job.instance_id,
                         "instance_url": reverse("rest:instance", args=[outcome.job.instance_id]),
                         "job": outcome.job.pk, "job_url": job_url}, status=202, headers={"Location": job_url})


class InstanceNextCertificate(ManagementView):
    @operation(
        summary="Generate the next certificate", operation_id="generateNextCertificate",
        description="As the rotate page's Generate: a new key pair kept beside the current certificate, which "
                    "keeps working. Upload the public certificate in this answer to the app registration, then "
                    "`POST .../certificate` (no body) to verify it and switch. Admins only.",
        parameters=[ID], request=None, responses={201: s.CertificateOut}, errors=(404, 409),
        examples=[ex.NEXT_CERTIFICATE], tags=["Instances"])
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        try:
            certificate = actions.do_generate_next_certificate(inst, acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise Problem(409, str(exc)) from None
        return Response(s.certificate_out(certificate), status=201)


class InstanceCertificate(ManagementView):
    @operation(
        summary="Rotate to a certificate", operation_id="rotateCertificate",
        description="As the rotate page: with `certificate` (base64 PEM or PFX, `certificate_password` if it "
                    "has one), that certificate; without, the one `POST .../next-certificate` generated. Azure AD "
                    "is asked for a token with it first; only if it accepts does the instance switch (a client "
                    "secret it had is retired: one credential at a time). Admins only.",
        parameters=[ID], request=s.CertificateIn, responses={200: s.InstanceDetailOut},
        errors=(400, 404, 409, 422, 503),
        error_text={409: "The instance cannot rotate now (it is not ready, or signs in as a user), or there is no "
                         "generated next certificate to switch to.",
                    422: "The certificate is not usable (the pages' checks: PEM with its key or PFX, RSA of 2048 "
                         "bits or more, valid now, the right password), or Azure AD refused it (`code`)."},
        examples=[OpenApiExample("Your own certificate", request_only=True, value={
            "certificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMuLi4=", "certificate_password": ""}),
                  OpenApiExample("Switch to the generated one", request_only=True, value={}), ex.INSTANCE],
        tags=["Instances"])
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        body = s.CertificateIn(data=request.data)
        body.is_valid(raise_exception=True)
        certificate = _chosen(inst, body.validated_data)
        try:
            actions.do_rotate_client_certificate(inst, certificate=certificate, acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise Problem(409, str(exc)) from None
        except AzureError as exc:
            raise _refused(exc) from None
        return Response(_detail(inst))


def _chosen(inst, data: dict) -> Certificate:
    """The certificate the body brings (the rotate page's form checks it), else the generated next one."""
    if "certificate" in data:
        upload = SimpleUploadedFile("certificate", file_bytes(data["certificate"]))
        form = RotateCertificateForm({"certificate_password": data.get("certificate_password", "")},
                                     {"certificate_file": upload})
        if not form.is_valid():
            raise invalid(form, names=API_NAMES)
        return form.certificate
    if not (inst.next_certificate_pem and inst.next_certificate_key):
        raise Problem(409, "Generate the next certificate first (POST .../next-certificate), or send your own.")
    return Certificate(inst.next_certificate_pem, str(inst.next_certificate_key))
