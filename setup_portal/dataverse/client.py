"""THE Dataverse (Dynamics 365) client: every call the portal makes to Dataverse goes through here.

- The read-only calls provisioning, keep-alive and polling need (`who_am_i`, `get_url`, ...): every
  call has a timeout and OData headers, and every failure becomes a DataverseError that says whether
  a retry may help (5xx, 429 with Retry-After, timeouts, resets).
- `send`: the instance API's calls, on transport.py's kept-open connections, with one retry after a
  refused token and GETs retried within a budget.
- `discovery_instances`: the Global Discovery Service's list of the environments a user can open.

Callers pass a URL already checked by `normalize_dynamics_url` (dynamics_url.py, the SSRF guard),
and plain values: what needs an instance row (its token cache, its lock) stays with the caller.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

from setup_portal.observability import tracing
from setup_portal.outbound import SandboxDisabled, outbound_session, retry_after_seconds

from . import transport

API = "/api/data/v9.2"
ODATA_HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}


class DataverseError(Exception):
    def __init__(self, status: int, code: str, message: str, *, retryable: bool = False,
                 retry_after: float | None = None):
        super().__init__(f"HTTP {status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after

    @property
    def catalogue_code(self) -> str:
        """The key for `setup_portal.azure.errors.explain`."""
        if self.status in (401, 403, 404):
            return f"dataverse_{self.status}"
        if self.status:
            return f"http_{self.status}"
        return self.code


def _is_sandbox(dynamics_url: str) -> bool:
    host = urlsplit(dynamics_url).hostname or ""
    return settings.SANDBOX_ENABLED and host == settings.SANDBOX_HOST


def _get(dynamics_url: str, access_token: str, path: str, params: dict | None = None) -> dict:
    return get_url(dynamics_url, access_token, dynamics_url.rstrip("/") + API + path, params=params)


def session_for(dynamics_url: str) -> requests.Session:
    """A session for several calls to one environment (kept-open connection), to pass as `session=`."""
    return outbound_session(use_sandbox=_is_sandbox(dynamics_url))


def get_url(dynamics_url: str, access_token: str, url: str, *, params: dict | None = None, prefer: str = "",
            fresh: bool = False, session: requests.Session | None = None) -> dict:
    """GET one Web API URL of the environment at `dynamics_url` (a link Dataverse gave, such as an
    @odata.nextLink or @odata.deltaLink, or one built from its entity set names), as JSON.

    `prefer` is sent as the Prefer header (paging, change tracking); `fresh` asks for no cached answer.
    A URL outside the environment's Web API is refused before anything is sent.
    """
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-data-web-api
    response = _send_get(dynamics_url, access_token, url, params=params, prefer=prefer, fresh=fresh,
                         session=session)
    try:
        return response.json()
    except ValueError:
        raise DataverseError(response.status_code, "bad_response", "Dynamics CRM answered with something "
                             "that is not JSON.") from None


def _send_get(dynamics_url: str, access_token: str, url: str, *, params: dict | None, prefer: str = "",
              fresh: bool = False, accept: str = "", session: requests.Session | None = None) -> requests.Response:
    if not url.startswith(dynamics_url.rstrip("/") + API + "/"):
        raise DataverseError(0, "bad_link", f"Not this environment's Web API: {url[:200]}")
    headers = {**ODATA_HEADERS, "Authorization": f"Bearer {access_token}"}
    if prefer:
        headers["Prefer"] = prefer
    if fresh:
        headers["Cache-Control"] = "no-cache"
    if accept:
        headers["Accept"] = accept
    try:
        if session is not None:
            response = session.get(url, headers=headers, params=params, allow_redirects=False)
        else:
            with session_for(dynamics_url) as own:
                response = own.get(url, headers=headers, params=params, allow_redirects=False)
    except requests.Timeout:
        raise DataverseError(0, "timeout", "Dynamics CRM did not answer in time.", retryable=True) from None
    except requests.ConnectionError:
        raise DataverseError(0, "connection_error", "Dynamics CRM could not be reached.", retryable=True) from None
    if response.status_code >= 300:
        raise _error(response)
    return response


def csdl_document(dynamics_url: str, access_token: str, *, session: requests.Session | None = None) -> bytes:
    """The environment's `$metadata` (CSDL XML): entity types, their properties and navigation properties."""
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-service-documents
    url = dynamics_url.rstrip("/") + API + "/$metadata"
    return _send_get(dynamics_url, access_token, url, params=None, accept="application/xml", session=session).content


def _error(response: requests.Response) -> DataverseError:
    status = response.status_code
    code, message = f"http_{status}", response.reason or ""
    try:
        body = response.json().get("error") or {}
        code = str(body.get("code") or code)
        message = str(body.get("message") or message)
    except (ValueError, AttributeError):
        pass
    if status == 401:
        message = response.headers.get("WWW-Authenticate", "") or message
    retryable = status == 429 or status >= 500
    return DataverseError(status, code, message[:500], retryable=retryable,
                          retry_after=retry_after_seconds(response) if retryable else None)


def who_am_i(dynamics_url: str, access_token: str) -> dict:
    """{"UserId", "BusinessUnitId", "OrganizationId"} of whoever the token speaks for."""
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/whoami
    data = _get(dynamics_url, access_token, "/WhoAmI")
    return {k: data.get(k, "") for k in ("UserId", "BusinessUnitId", "OrganizationId")}


# OrganizationType, as Microsoft names the kinds a person picks between: by value (the Global
# Discovery Service's Instances give the number) and by member name (the Web API writes the enum
# as its name, as in RetrieveCurrentOrganization's Detail). Others (Support, Monitoring…) are "".
# Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/organizationtype
ORGANIZATION_TYPES = {0: "Production", 4: "Production", 5: "Sandbox", 6: "Sandbox", 7: "Preview", 9: "Trial",
                      11: "Trial", 12: "Default", 13: "Developer", 14: "Trial", 15: "Teams"}
ORGANIZATION_TYPE_MEMBERS = {"Customer": 0, "Secondary": 4, "CustomerTest": 5, "CustomerFreeTest": 6,
                             "CustomerPreview": 7, "TestDrive": 9, "EmailTrial": 11, "Default": 12,
                             "Developer": 13, "Trial": 14, "Teams": 15}


def organization_type(value) -> str:
    """The portal's name ("Production", "Sandbox"…) for an OrganizationType number or member name."""
    if isinstance(value, str):
        value = ORGANIZATION_TYPE_MEMBERS.get(value)
    return ORGANIZATION_TYPES.get(value, "") if type(value) is int else ""


def current_organization(dynamics_url: str, access_token: str) -> dict:
    """{"name", "version", "organization_id", "organization_type"} of the environment (the type by
    the portal's name for it, "" when not reported)."""
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/retrievecurrentorganization
    data = _get(dynamics_url, access_token, "/RetrieveCurrentOrganization(AccessType=@p1)",
                params={"@p1": "Microsoft.Dynamics.CRM.EndpointAccessType'Default'"})
    detail = data.get("Detail") or {}
    return {"name": str(detail.get("FriendlyName") or detail.get("UniqueName") or ""),
            "version": str(detail.get("OrganizationVersion") or ""),
            "organization_id": str(detail.get("OrganizationId") or ""),
            "organization_type": organization_type(detail.get("OrganizationType"))}


def entity_set_names(dynamics_url: str, access_token: str) -> set[str]:
    """The entities the environment has: logical names ("account") and entity set names ("accounts")."""
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api
    data = _get(dynamics_url, access_token, "/EntityDefinitions", params={"$select": "LogicalName,EntitySetName"})
    names: set[str] = set()
    for entity in data.get("value", []):
        names |= {str(entity[k]) for k in ("LogicalName", "EntitySetName") if entity.get(k)}
    return names


def probe_accounts(dynamics_url: str, access_token: str) -> None:
    """Read one account: proves an application user / security role lets us read records."""
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-data-web-api
    _get(dynamics_url, access_token, "/accounts", params={"$top": "1", "$select": "accountid"})


# --- the instance API's calls ----------------------------------------------------------------------
# A call sends the cached access token; on a 401 it asks for a new one and retries once (the
# request was not executed). GETs are retried on 429, 503, dropped connections and timeouts,
# honouring Retry-After, while the total stays within CRM_RETRY_BUDGET_SECONDS: the first try has
# OUTBOUND_TIMEOUT_SECONDS, a retry only what is left of the budget (so with a budget shorter than
# the timeout, a timed-out GET is not tried again). Writes are never retried blindly.
# Reference: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
# (Retry-After on 429), https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
RETRYABLE_STATUS = (429, 503)
# A retry after a timeout needs at least this much of the budget left to be worth sending.
MIN_RETRY_SECONDS = 0.5


class Unreachable(Exception):
    """No answer from Dataverse: `timeout` tells a slow service from a refused or dropped connection."""

    def __init__(self, message: str, *, timeout: bool):
        super().__init__(message)
        self.timeout = timeout


@dataclass
class Outcome:
    response: requests.Response
    upstream_ms: int
    retries: int

    @property
    def request_id(self) -> str:
        return self.response.headers.get("x-ms-service-request-id", "")[:64]


def _wait(response: requests.Response | None, failure: Exception | None, retries: int) -> float | None:
    """Seconds to wait before retrying a GET, or None when this answer is final."""
    if failure is not None:
        # A dropped or refused connection, or one that did not answer in time, may pass on the next try.
        if not isinstance(failure, requests.ConnectionError | requests.Timeout):
            return None
    elif response.status_code not in RETRYABLE_STATUS:
        return None
    server_wait = retry_after_seconds(response) if response is not None else None
    if server_wait is not None:
        return server_wait
    return random.uniform(0.5, 1.0) * 0.25 * 2 ** retries


def send(method: str, url: str, *, token: Callable[[str | None], str], params=None, body=None,
         headers: dict | None = None, use_sandbox: bool) -> Outcome:
    """One Web API call to `url` (already checked). `token(None)` gives the access token to send,
    `token(rejected)` a new one after Dataverse refused `rejected`; what it raises passes through.
    Raises Unreachable when Dataverse did not answer, SandboxDisabled for a switched-off sandbox."""
    retry = method == "GET"
    budget = settings.CRM_RETRY_BUDGET_SECONDS
    started = time.monotonic()
    retries = 0
    upstream_ms = 0
    refreshed = False
    timeout = None  # the first try: OUTBOUND_TIMEOUT_SECONDS
    access_token = token(None)
    while True:
        sent = time.monotonic()
        response, failure = None, None
        try:
            with tracing.outbound_span("dataverse", method, url) as call:
                response = transport.request(
                    method, url, params=params, body=body, use_sandbox=use_sandbox, timeout=timeout,
                    headers={**ODATA_HEADERS, **(headers or {}), **call.headers,
                             "Authorization": f"Bearer {access_token}"})
                call.answered(response.status_code)
        except requests.RequestException as exc:
            failure = exc
        upstream_ms += round((time.monotonic() - sent) * 1000)
        if response is not None and response.status_code == 401 and not refreshed:
            refreshed = True
            access_token = token(access_token)
            continue
        wait = _wait(response, failure, retries) if retry else None
        if wait is not None:
            left = budget - (time.monotonic() - started) - wait
            if left >= (MIN_RETRY_SECONDS if isinstance(failure, requests.Timeout) else 0):
                time.sleep(wait)
                retries += 1
                timeout = min(settings.OUTBOUND_TIMEOUT_SECONDS, max(left, MIN_RETRY_SECONDS))
                continue
        if failure is not None:
            raise Unreachable(str(failure), timeout=isinstance(failure, requests.Timeout))
        return Outcome(response, upstream_ms, retries)


# --- the Global Discovery Service ------------------------------------------------------------------
DISCOVERY_INSTANCES_PATH = "/api/discovery/v2.0/Instances"


def discovery_instances(base: str, access_token: str, *, use_sandbox: bool) -> list:
    """The rows of <base>/api/discovery/v2.0/Instances (the Global Discovery Service at `base`) for
    the user the token speaks for, as Microsoft sends them; DataverseError when there is no list."""
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/discover-url-organization-web-api
    try:
        session = outbound_session(use_sandbox=use_sandbox)
    except SandboxDisabled as exc:
        raise DataverseError(0, "sandbox_disabled", str(exc)) from None
    try:
        response = session.get(base + DISCOVERY_INSTANCES_PATH, headers={
            "Authorization": f"Bearer {access_token}", "Accept": "application/json",
            "OData-MaxVersion": "4.0", "OData-Version": "4.0"}, allow_redirects=False)
    except requests.Timeout:
        raise DataverseError(0, "timeout", "The Global Discovery Service did not answer in time.",
                             retryable=True) from None
    except requests.RequestException:
        raise DataverseError(0, "connection_error", "The Global Discovery Service could not be reached.",
                             retryable=True) from None
    status = response.status_code
    if status in (401, 403):
        raise DataverseError(status, "discovery_refused", f"The Global Discovery Service answered HTTP {status}.")
    if status == 429 or status >= 500:
        raise DataverseError(status, f"http_{status}", f"The Global Discovery Service answered HTTP {status}.",
                             retryable=True, retry_after=retry_after_seconds(response))
    try:
        rows = response.json()["value"] if status == 200 else None
    except (ValueError, KeyError, TypeError):
        rows = None
    if not isinstance(rows, list):
        raise DataverseError(status, "discovery_failed",
                             "The Global Discovery Service gave an answer the portal could not use.")
    return rows
