"""Outbound HTTP: the one kind of requests session every call to Azure AD and Dataverse uses.

Each session puts a timeout on every call (msal sets none on a custom `http_client`),
trusts the sandbox's CA when the call goes to the sandbox (with `trust_env` off, because a
machine-wide REQUESTS_CA_BUNDLE would otherwise win over `verify`), and remembers the last
response so that a 429/5xx keeps its status and Retry-After after msal has swallowed it.

With OUTBOUND_LOOPBACK_ONLY on (the test settings turn it on) a call to anything but
loopback fails at once as a connection error, so no test or offline demo reaches Microsoft.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

import requests
from django.conf import settings

from setup_portal.sandbox.info import sandbox_info


class SandboxDisabled(Exception):
    """A call meant for the sandbox tenant on a portal where the sandbox is off."""


class OutboundSession(requests.Session):
    """A requests session with a timeout on every call that remembers the last response."""

    def __init__(self, *, ca_file: str | None = None):
        super().__init__()
        self.last_response: requests.Response | None = None
        if ca_file:
            self.trust_env = False
            self.verify = ca_file

    def request(self, method, url, **kwargs):  # type: ignore[override]
        if settings.OUTBOUND_LOOPBACK_ONLY and not _is_loopback(str(url)):
            raise requests.ConnectionError(f"OUTBOUND_LOOPBACK_ONLY is on: no call to {urlsplit(str(url)).hostname}")
        kwargs.setdefault("timeout", settings.OUTBOUND_TIMEOUT_SECONDS)
        verify = kwargs.get("verify", self.verify)
        if isinstance(verify, str) and not os.path.exists(verify):
            # requests raises a bare OSError for this, which callers would not take for the connection
            # failure it is (the sandbox's CA file is made by the sandbox: it is not running here).
            raise requests.ConnectionError(f"The CA certificate file {verify} is missing: no TLS connection can be "
                                           "verified (is the sandbox running?)")
        response = super().request(method, url, **kwargs)
        self.last_response = response
        return response


def _is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """What OUTBOUND_LOOPBACK_ONLY lets through: localhost or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def outbound_session(*, use_sandbox: bool) -> OutboundSession:
    """The session for one call to Azure AD or Dataverse; raises SandboxDisabled when the sandbox is off."""
    if not use_sandbox:
        return OutboundSession()
    if not settings.SANDBOX_ENABLED:
        raise SandboxDisabled("The sandbox tenant is not enabled on this portal.")
    return OutboundSession(ca_file=sandbox_info()["ca_cert_path"])


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """The Retry-After header in seconds (Azure AD and Dataverse send a number), or None."""
    if response is None:
        return None
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None
