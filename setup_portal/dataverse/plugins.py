"""Registering the portal's webhook in a Dataverse environment: one service endpoint (contract
Webhook, authenticated by a key in an HTTP header) and a step per message and table.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/register-web-hook and
https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/serviceendpoint
(sdkmessageprocessingstep, sdkmessagefilter). Every failure is a DataverseError, as in client.py;
a 403 means the application user lacks the privilege to register (prvCreateServiceEndpoint …).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

import requests

from .client import API, ODATA_HEADERS, DataverseError, _error, get_url, session_for

WEBHOOK, HTTP_HEADER = 8, 5
POST_OPERATION, ASYNCHRONOUS = 40, 1
KEY_HEADER = "x-portal-hook-key"


def _send(method: str, dynamics_url: str, token: str, path: str, body: dict | None = None) -> requests.Response:
    url = dynamics_url.rstrip("/") + API + path
    headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token}"}
    try:
        with session_for(dynamics_url) as session:
            response = session.request(method, url, json=body, headers=headers, allow_redirects=False)
    except requests.Timeout:
        raise DataverseError(0, "timeout", "Dynamics CRM did not answer in time.", retryable=True) from None
    except requests.ConnectionError:
        raise DataverseError(0, "connection_error", "Dynamics CRM could not be reached.", retryable=True) from None
    if response.status_code >= 300 and not (method == "DELETE" and response.status_code == 404):
        raise _error(response)
    return response


def _literal(text: str) -> str:
    """An OData string literal (a quote doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _created_id(response: requests.Response) -> str:
    return response.headers.get("OData-EntityId", "").rsplit("(", 1)[-1].rstrip(")")


def header_auth(key: str) -> str:
    """The HttpHeader authvalue: the settings the Plug-in Registration tool writes."""
    return f"<settings><setting name={quoteattr(KEY_HEADER)} value={quoteattr(key)} /></settings>"


def create_webhook(dynamics_url: str, token: str, *, name: str, url: str, key: str) -> str:
    """A webhook service endpoint posting to `url` with the key in an HTTP header; its id."""
    body = {"name": name[:256], "contract": WEBHOOK, "url": url, "authtype": HTTP_HEADER,
            "authvalue": header_auth(key), "description": "Registered by the Dynamics CRM Setup Portal."}
    return _created_id(_send("POST", dynamics_url, token, "/serviceendpoints", body))


def set_webhook_key(dynamics_url: str, token: str, endpoint_id: str, key: str) -> None:
    _send("PATCH", dynamics_url, token, f"/serviceendpoints({endpoint_id})", {"authvalue": header_auth(key)})


def delete_webhook(dynamics_url: str, token: str, endpoint_id: str) -> None:
    """Delete the endpoint (gone already is fine)."""
    _send("DELETE", dynamics_url, token, f"/serviceendpoints({endpoint_id})")


def logical_name(dynamics_url: str, token: str, entity_set: str) -> str | None:
    found = get_url(dynamics_url, token, dynamics_url.rstrip("/") + API + "/EntityDefinitions",
                    params={"$select": "LogicalName", "$filter": f"EntitySetName eq {_literal(entity_set)}"})
    rows = found.get("value") or []
    return rows[0]["LogicalName"] if rows else None


def create_step(dynamics_url: str, token: str, *, endpoint_id: str, message: str, table: str, name: str) -> str:
    """An asynchronous post-operation step sending `message` (Create, Update, Delete) on the table
    with logical name `table` to the endpoint; its id."""
    base = dynamics_url.rstrip("/") + API
    messages = get_url(dynamics_url, token, base + "/sdkmessages",
                       params={"$select": "sdkmessageid", "$filter": f"name eq {_literal(message)}"}).get("value") or []
    if not messages:
        raise DataverseError(404, "no_message", f"Dataverse has no SDK message {message}.")
    message_id = messages[0]["sdkmessageid"]
    filters = get_url(dynamics_url, token, base + "/sdkmessagefilters", params={
        "$select": "sdkmessagefilterid",
        "$filter": f"primaryobjecttypecode eq {_literal(table)} and _sdkmessageid_value eq {message_id}",
    }).get("value") or []
    if not filters:
        raise DataverseError(404, "no_filter", f"Dataverse offers no {message} step on the table {table}.")
    body = {"name": name[:256], "stage": POST_OPERATION, "mode": ASYNCHRONOUS, "rank": 1, "supporteddeployment": 0,
            "asyncautodelete": True,
            "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filters[0]['sdkmessagefilterid']})",
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})"}
    return _created_id(_send("POST", dynamics_url, token, "/sdkmessageprocessingsteps", body))


def delete_step(dynamics_url: str, token: str, step_id: str) -> None:
    _send("DELETE", dynamics_url, token, f"/sdkmessageprocessingsteps({step_id})")
