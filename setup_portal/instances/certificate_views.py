"""Rotating a certificate: generate the next one (or upload your own), upload it to the app
registration, verify it with a token request, switch. The current certificate keeps working
until the switch."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from setup_portal.azure.certificates import Certificate
from setup_portal.azure.client import AzureError
from setup_portal.azure.errors import explain
from setup_portal.teams import permissions

from . import actions, dates
from .access import instance_for
from .lifecycle_forms import RotateCertificateForm
from .models import Instance

DOWNLOADS = {"cer": "application/pkix-cert", "pem": "application/x-pem-file"}


def _next(inst: Instance) -> Certificate | None:
    if not (inst.next_certificate_pem and inst.next_certificate_key):
        return None
    return Certificate(inst.next_certificate_pem, str(inst.next_certificate_key))


def rotate(request: HttpRequest, inst: Instance) -> HttpResponse:
    """The rotate page of an instance that signs in with a certificate (GET, and its three POSTs)."""
    action = request.POST.get("action", "") if request.method == "POST" else ""
    form = RotateCertificateForm(request.POST if action == "upload" else None,
                                 request.FILES if action == "upload" else None)
    ctx = {"inst": inst, "form": form, "next": _next(inst),
           "countdown": dates.secret_countdown(inst.secret_expires_on, timezone.localdate())}
    if request.method != "POST":
        return render(request, "instances/rotate_certificate.html", ctx)
    try:
        if action == "generate":
            actions.do_generate_next_certificate(inst, acting_user=request.user)
            messages.success(request, "Generated the next certificate. Download it and upload it to the app "
                                      "registration, then verify and switch.")
            return redirect("instances:rotate_secret", instance_id=inst.pk)
        if action == "switch" and ctx["next"]:
            certificate = ctx["next"]
        elif action == "upload" and form.is_valid():
            certificate = form.certificate
        else:
            if action == "switch":
                ctx["problem"] = "Generate the next certificate first, or upload your own."
            return render(request, "instances/rotate_certificate.html", ctx, status=400)
        actions.do_rotate_client_certificate(inst, certificate=certificate, acting_user=request.user)
    except actions.InstanceStateError as exc:
        ctx["problem"] = str(exc)
        return render(request, "instances/rotate_certificate.html", ctx, status=409)
    except AzureError as exc:
        ctx.update(refusal=explain(exc.code), refusal_code=exc.code)
        return render(request, "instances/rotate_certificate.html", ctx, status=400)
    messages.success(request, "Azure AD accepted the new certificate; the instance uses it from now on. "
                              "Delete the old certificate from the app registration.")
    return redirect("instances:detail", instance_id=inst.pk)


@require_GET
@login_required
def download_next(request: HttpRequest, instance_id, fmt: str) -> HttpResponse:
    inst = instance_for(request.user, instance_id, permissions.can_change_instance)
    certificate = _next(inst)
    if fmt not in DOWNLOADS or certificate is None:
        raise Http404("No next certificate to download.")
    body = certificate.der() if fmt == "cer" else certificate.certificate_pem.encode()
    response = HttpResponse(body, content_type=DOWNLOADS[fmt])
    response["Content-Disposition"] = f'attachment; filename="crm-portal-{certificate.thumbprint[:8].lower()}.{fmt}"'
    return response
