"""Calls from the instance API to the instance's Dataverse Web API.

Connections stay open between calls (transport.py: one pool per thread and origin). A call
sends the cached access token; on a 401 it drops it and retries once with a refreshed one
(the request was not executed). GETs are retried on 429, 503, dropped connections and timeouts,
honouring Retry-After, while the total stays within CRM_RETRY_BUDGET_SECONDS: the first try has
OUTBOUND_TIMEOUT_SECONDS, a retry only what is left of the budget (so with a budget shorter than
the timeout, a timed-out GET is not tried again). Writes are never retried blindly.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
(Retry-After on 429), https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import requests
from django.conf import settings

from setup_portal.dataverse.client import ODATA_HEADERS
from setup_portal.instances.models import Instance
from setup_portal.observability import tracing
from setup_portal.outbound import retry_after_seconds

from . import access, transport

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


def send(instance: Instance, method: str, url: str, *, params=None, body=None, headers: dict | None = None,
         use_sandbox: bool) -> Outcome:
    """One API call to `url` (already checked to be under the instance's Web API). Raises Unreachable,
    azure.AzureError and access.InstanceGone (from the token)."""
    retry = method == "GET"
    budget = settings.CRM_RETRY_BUDGET_SECONDS
    started = time.monotonic()
    retries = 0
    upstream_ms = 0
    refreshed = False
    timeout = None  # the first try: OUTBOUND_TIMEOUT_SECONDS
    token = access.access_token(instance)
    while True:
        sent = time.monotonic()
        response, failure = None, None
        try:
            with tracing.outbound_span("dataverse", method, url) as call:
                response = transport.request(
                    method, url, params=params, body=body, use_sandbox=use_sandbox, timeout=timeout,
                    headers={**ODATA_HEADERS, **(headers or {}), **call.headers, "Authorization": f"Bearer {token}"})
                call.answered(response.status_code)
        except requests.RequestException as exc:
            failure = exc
        upstream_ms += round((time.monotonic() - sent) * 1000)
        if response is not None and response.status_code == 401 and not refreshed:
            refreshed = True
            access.forget(instance.pk)
            token = access.access_token(instance, rejected=token)
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
