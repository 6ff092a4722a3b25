"""Test and demo hooks under /_sandbox/ on the HTTPS listener (documented in README.md)."""

from __future__ import annotations

import json
import random
import secrets
import uuid
from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from ..assertions import WeakKey, certificate_from_pem
from ..data import changes, customize, service
from ..data.errors import DataverseError
from ..data.schema import TABLES, WRITABLE
from ..directory import Secret
from ..plugin_dispatch import DISPATCHER, Faults
from ..state import Fault
from .common import backchannel_base, current


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
def add_certificate(request: HttpRequest, client_id: str) -> HttpResponse:
    """Upload a certificate (public PEM) to an app, as an admin does under Certificates & secrets."""
    store = current()
    app = store.directory.app(client_id)
    if app is None or app.public_client:
        return JsonResponse({"error": "no confidential app with that client id"}, status=404)
    try:
        body = _body(request)
        certificate = certificate_from_pem(str(body.get("certificate", "")), str(body.get("description", ""))[:100])
    except WeakKey as exc:
        return JsonResponse({"error": "invalid_request", "error_description": str(exc), "error_codes": [50032]},
                            status=400)
    except (ValueError, json.JSONDecodeError):
        return _bad("certificate must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
    with store.lock:
        if all(c.thumbprint != certificate.thumbprint for c in app.certificates):
            app.certificates.append(certificate)
    return JsonResponse({"thumbprint": certificate.thumbprint, "thumbprint_sha256": certificate.thumbprint_sha256,
                         "expires": certificate.expires.isoformat()}, status=201)


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


# --- the Dataverse data service ------------------------------------------------------------
MAX_GENERATED = 500


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def dataverse_limits(request: HttpRequest) -> HttpResponse:
    """Service protection limits: GET shows them and each user's use; POST lowers (or raises) some
    and starts every user's window afresh; DELETE goes back to the settings."""
    limiter = current().limiter
    if request.method == "POST":
        try:
            limiter.configure(limiter.limits.changed(_body(request)))
        except (ValueError, json.JSONDecodeError) as exc:
            return _bad(str(exc))
    elif request.method == "DELETE":
        limiter.restore()
    return JsonResponse({"limits": limiter.limits.as_dict(), "defaults": limiter.defaults.as_dict(),
                         "usage": limiter.report()})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def dataverse_changes(request: HttpRequest, env_name: str) -> HttpResponse:
    """POST generates creates, updates and deletes; GET lists the latest changes."""
    store = current()
    data = store.data.get(env_name)
    if data is None:
        return JsonResponse({"error": f"no Dataverse environment named {env_name!r}"}, status=404)
    if request.method == "GET":
        try:
            limit = min(max(int(request.GET.get("limit", "50")), 1), 500)
        except ValueError:
            return _bad("limit must be a number")
        return JsonResponse({"version": data.store.version, "changes": data.store.recent_changes(limit)})
    try:
        body = _body(request)
        plan, principal, rng = _change_plan(data, body)
    except (ValueError, json.JSONDecodeError) as exc:
        return _bad(str(exc))
    base = f"{data.env.url(backchannel_base())}/api/data/v9.2"
    try:
        done = changes.generate_changes(data, principal, plan, rng, base)
    except DataverseError as exc:
        return JsonResponse(exc.body(), status=400)
    return JsonResponse({"version": data.store.version, "changes": done}, status=201)


def _change_plan(data: service.EnvironmentData, body: dict) -> tuple[dict, service.Principal, random.Random]:
    """Validate `{"accounts": {"create": 2, "update": 1, "delete": 1}, ..., "owner": upn, "seed": 7}`."""
    plan: dict[str, dict[str, int]] = {}
    for name, ops in body.items():
        if name in {"owner", "seed"}:
            continue
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; use one of {', '.join(WRITABLE)}")
        if name not in WRITABLE:
            raise ValueError(f"{name} is read-only; change tasks instead")
        if not isinstance(ops, dict) or set(ops) - {"create", "update", "delete"}:
            raise ValueError(f"{name} takes an object with create, update and delete counts")
        for op, count in ops.items():
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_GENERATED:
                raise ValueError(f"{name}.{op} must be a number from 0 to {MAX_GENERATED}")
        plan[name] = ops
    if not plan:
        raise ValueError("name at least one table, e.g. {\"accounts\": {\"create\": 1}}")
    owner = str(body.get("owner", ""))
    env = data.env
    member = (env.system_user(owner) or env.application_user(owner)
              or next((m for m in [*env.users, *env.application_users] if m["systemuserid"] == owner.lower()), None)
              if owner else env.application_users[0])
    if member is None or not member.get("roles"):
        raise ValueError("owner must be a user or application user of the environment with a security role")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError("seed must be an integer")
    return plan, data.principal(member), random.Random(seed)


@csrf_exempt
@require_POST
def dataverse_columns(request: HttpRequest) -> HttpResponse:
    """`{"table": "<entity set>", "name": "cr8a2_x", "kind": ..., "label"?, "max_length"?, "choices"?}`: a new
    custom column in every environment, until the sandbox stops (data/customize.py)."""
    try:
        body = _body(request)
        column = customize.add_column([d.store for d in current().data.values()], str(body.get("table")), body)
    except (ValueError, json.JSONDecodeError) as exc:
        return _bad(str(exc))
    return JsonResponse({"table": body["table"], "name": column.name, "kind": column.kind,
                         "choices": column.choices}, status=201)


@csrf_exempt
@require_POST
def expire_delta_tokens(request: HttpRequest, env_name: str) -> HttpResponse:
    """Every delta token handed out so far gets Dataverse's ExpiredVersionStamp error."""
    data = current().data.get(env_name)
    if data is None:
        return JsonResponse({"error": f"no Dataverse environment named {env_name!r}"}, status=404)
    return JsonResponse({"expired_before_version": data.store.expire_delta_tokens()})


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def webhook_faults(request: HttpRequest) -> HttpResponse:
    """Dataverse's pushes to registered webhooks: GET the fault switch, what was sent, dropped, retried
    and given up, and how many service endpoints and steps each environment holds; POST
    `{"drop_percent": 0-100, "delay_ms": n}` to drop a share of pushes or delay each; DELETE clears it."""
    if request.method == "POST":
        try:
            body = _body(request)
            drop, delay = float(body.get("drop_percent", 0)), int(body.get("delay_ms", 0))
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return _bad(str(exc))
        if not 0 <= drop <= 100 or not 0 <= delay <= 60000:
            return _bad("drop_percent must be 0-100 and delay_ms 0-60000")
        DISPATCHER.faults = Faults(drop, delay)
    elif request.method == "DELETE":
        DISPATCHER.faults = Faults()
    registrations = {name: {"serviceendpoints": data.plugins.count("serviceendpoints"),
                            "sdkmessageprocessingsteps": data.plugins.count("sdkmessageprocessingsteps")}
                     for name, data in current().data.items()}
    return JsonResponse({"faults": DISPATCHER.faults.as_dict(), "counters": DISPATCHER.counters.as_dict(),
                         "registrations": registrations})
