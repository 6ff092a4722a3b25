"""From an API request to a Dataverse call and back: the URL, the token, and every failure as a problem.

Views call `call()`; it raises `Problem` for anything but a 2xx/3xx answer, and leaves the
outcome on the request (`crm_upstream`) for the call log either way.
"""

from __future__ import annotations

import math
import time

import orjson
from django.conf import settings
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed

from setup_portal.azure.client import AzureError
from setup_portal.azure.errors import reauthentication_code
from setup_portal.dataverse import client
from setup_portal.instances import state
from setup_portal.instances.models import Instance
from setup_portal.instances.provisioning import StepFailed, checked_url
from setup_portal.outbound import SandboxDisabled, retry_after_seconds

from ..problems import Problem, catalogue_fix
from . import access, upstream
from .authentication import instance_page

API_PATH = "/api/data/v9.2/"
# Every digit as "0", everything else as " ": a run of 20 digits is then a plain substring test,
# about ten times faster than a regular expression over a page of records.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 20
# A checked URL is remembered briefly per process: the check reads the sandbox's runtime file
# and parses the URL, which would cost more than the rest of a call's own work.
CHECK_SECONDS = 30
_checked: dict[tuple, tuple[str, float]] = {}


def web_api_base(instance: Instance) -> str:
    """The instance's own Web API root, its Dynamics URL re-checked first (SSRF guard)."""
    key = (instance.dynamics_url, instance.use_sandbox, settings.SANDBOX_ENABLED)
    base, until = _checked.get(key, ("", 0.0))
    if base and until > time.monotonic():
        return base
    try:
        base = checked_url(instance).rstrip("/") + API_PATH
    except StepFailed as exc:
        raise Problem(409, exc.message, slug="instance-url-invalid", title="The instance's Dynamics URL is refused",
                      code=exc.code) from None
    _checked[key] = (base, time.monotonic() + CHECK_SECONDS)
    return base


def _retry_after(seconds: float | None) -> dict:
    return {"Retry-After": str(max(1, math.ceil(seconds)))} if seconds is not None else {}


def azure_problem(request, instance: Instance, exc: AzureError) -> Problem:
    code = exc.code
    reauth = reauthentication_code(code, exc.description)
    if reauth:
        state.mark_needs_reauth(instance.pk, code=reauth, acting_user=None)
        access.forget(instance.pk)
        page = instance_page(instance, request)
        return Problem(409, "Azure AD no longer accepts this instance's saved sign-in, so it now needs "
                       f"re-authentication. An admin of its team signs in again with 'Re-authenticate' on {page}.",
                       slug="needs-reauthentication", title="The instance needs re-authentication", code=reauth,
                       fix=catalogue_fix(reauth), extra={"instanceStatus": Instance.Status.NEEDS_REAUTH,
                                                         "instancePage": page})
    if exc.retryable:
        return Problem(503, "Azure AD could not give the instance an access token just now.", code=code,
                       fix=catalogue_fix(code), headers=_retry_after(exc.retry_after or 1))
    return Problem(502, f"Azure AD refused the instance an access token: {exc.description or code}"[:500],
                   code=code, fix=catalogue_fix(code))


def _error_body(response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or ""), str(error.get("message") or "")[:1000]
    except (ValueError, AttributeError):
        return "", (response.reason or "")[:200]


def dataverse_problem(response) -> Problem:
    status = response.status_code
    code, message = _error_body(response)
    if status == 429:
        return Problem(429, f"Dynamics CRM is throttling this instance. {message}".strip(), code=code,
                       fix=catalogue_fix("http_429"), headers=_retry_after(retry_after_seconds(response) or 1))
    if status == 401:
        return Problem(502, "Dynamics CRM refused the instance's access token, even a fresh one.", code=code,
                       fix=catalogue_fix("dataverse_401"))
    if 400 <= status < 500:
        fix = catalogue_fix("dataverse_403") if status == 403 else ""
        return Problem(status, message or f"Dynamics CRM answered {status}.", code=code, fix=fix,
                       slug="dataverse-error" if status not in (404, 412) else None)
    if status in (503, 504):
        return Problem(status, f"Dynamics CRM answered {status}. {message}".strip(), code=code,
                       fix=catalogue_fix(f"http_{status}"), headers=_retry_after(retry_after_seconds(response)))
    return Problem(502, f"Dynamics CRM answered {status}. {message}".strip(), code=code,
                   fix=catalogue_fix(f"http_{status}") if status >= 500 else "")


def call(request, instance: Instance, method: str, path: str, *, params=None, body=None,
         headers: dict | None = None) -> client.Outcome:
    """`method` `path` (below the Web API root, already validated) for the instance; a Problem unless 2xx/3xx."""
    url = web_api_base(instance) + path
    try:
        outcome = upstream.send(instance, method, url, params=params, body=body, headers=headers,
                                use_sandbox=instance.use_sandbox)
    except AzureError as exc:
        raise azure_problem(request, instance, exc) from None
    except access.InstanceGone:
        raise AuthenticationFailed("The instance token is not valid.") from None
    except SandboxDisabled:
        raise Problem(409, "This instance uses the sandbox tenant, which is switched off on this portal.",
                      slug="sandbox-disabled") from None
    except client.Unreachable as exc:
        if exc.timeout:
            raise Problem(504, "Dynamics CRM did not answer in time.", code="timeout") from None
        raise Problem(502, "Dynamics CRM could not be reached.", code="connection_error",
                      fix=catalogue_fix("connection_error")) from None
    request.crm_upstream = outcome
    if outcome.response.status_code >= 400:
        raise dataverse_problem(outcome.response)
    return outcome


def json_of(response):
    """The JSON of a 2xx answer; 502 when Dataverse sent something else."""
    try:
        # orjson reads a page of records several times faster than json; what it refuses (not
        # UTF-8, a lone surrogate escape) goes to requests' own reading, and so does a body with
        # a run of 20 digits, which might be an integer beyond 64 bits (orjson makes it a float).
        content = response.content
        if _LONG_RUN not in content.translate(_DIGITS_ONLY):
            return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        return response.json()
    except ValueError:
        raise Problem(502, "Dynamics CRM answered with something that is not JSON.", code="bad_response") from None


def raw_root(request) -> str:
    return request.build_absolute_uri(reverse("crm_api:raw", kwargs={"path": ""}))
