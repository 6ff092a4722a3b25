"""Test and demo hooks under /_sandbox/ on the HTTPS listener (documented in README.md)."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from ..directory import Secret
from ..state import Fault
from .common import current


def _body(request: HttpRequest) -> dict:
    if not request.body:
        return {}
    data = json.loads(request.body)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _bad(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def faults(request: HttpRequest) -> HttpResponse:
    store = current()
    if request.method == "POST":
        try:
            fault = Fault.from_spec(_body(request))
        except (ValueError, json.JSONDecodeError) as exc:
            return _bad(str(exc))
        store.add_fault(fault)
        return JsonResponse(fault.as_dict(), status=201)
    if request.method == "DELETE":
        store.clear_faults()
    with store.lock:
        listed = [f.as_dict() for f in store.faults]
    return JsonResponse({"faults": listed})


@csrf_exempt
@require_POST
def reset(request: HttpRequest) -> HttpResponse:
    current().reset()
    return JsonResponse({"reset": True})


@csrf_exempt
@require_POST
def expire_refresh_tokens(request: HttpRequest) -> HttpResponse:
    """Make refresh tokens (all, or one app's / one user's) expired: the next refresh gets AADSTS700082."""
    try:
        body = _body(request)
    except (ValueError, json.JSONDecodeError) as exc:
        return _bad(str(exc))
    count = current().expire_refresh_tokens(str(body.get("client_id", "")), str(body.get("upn", "")))
    return JsonResponse({"expired": count})


@csrf_exempt
@require_POST
def add_secret(request: HttpRequest, client_id: str) -> HttpResponse:
    """Create a client secret, as an admin does in the Azure portal; the value is shown this once."""
    store = current()
    app = store.directory.app(client_id)
    if app is None or app.public_client:
        return JsonResponse({"error": "no confidential app with that client id"}, status=404)
    try:
        days = int(_body(request).get("days", 180))
    except (ValueError, TypeError, json.JSONDecodeError):
        return _bad("days must be an integer")
    secret = Secret(str(uuid.uuid4()), "sbx8Q~" + secrets.token_urlsafe(27), date.today() + timedelta(days=days),
                    "added at runtime")
    with store.lock:
        app.secrets.append(secret)
    return JsonResponse({"id": secret.id, "value": secret.value, "expires": secret.expires.isoformat()}, status=201)


@csrf_exempt
@require_POST
def expire_secret(request: HttpRequest, client_id: str, secret_id: str) -> HttpResponse:
    """Age a secret to yesterday: using it then fails with AADSTS7000222."""
    store = current()
    app = store.directory.app(client_id)
    secret = next((s for s in app.secrets if s.id.lower() == secret_id.lower()), None) if app else None
    if secret is None:
        return JsonResponse({"error": "no such app or secret"}, status=404)
    with store.lock:
        secret.expires = date.today() - timedelta(days=1)
    return JsonResponse({"id": secret.id, "expires": secret.expires.isoformat()})


def health(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True, "tenant_id": current().directory.tenant.id})
