"""Dataverse (Dynamics 365) Web API client: the read-only calls provisioning, keep-alive and polling need.

Every call has a timeout and OData headers, and every failure becomes a DataverseError
that says whether a retry may help (5xx, 429 with Retry-After, timeouts, resets).
Callers pass a URL already checked by `normalize_dynamics_url` (the SSRF guard).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.conf import settings

from setup_portal.outbound import outbound_session, retry_after_seconds

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


def current_organization(dynamics_url: str, access_token: str) -> dict:
    """{"name", "version", "organization_id"} of the environment."""
    # Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/retrievecurrentorganization
    data = _get(dynamics_url, access_token, "/RetrieveCurrentOrganization(AccessType=@p1)",
                params={"@p1": "Microsoft.Dynamics.CRM.EndpointAccessType'Default'"})
    detail = data.get("Detail") or {}
    return {"name": str(detail.get("FriendlyName") or detail.get("UniqueName") or ""),
            "version": str(detail.get("OrganizationVersion") or ""),
            "organization_id": str(detail.get("OrganizationId") or "")}


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
