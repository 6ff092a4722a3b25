"""The instance API's HTTP to Dataverse: urllib3 connection pools kept per thread, without requests' per-call work.

A call through a requests session costs about three times the CPU of the same call through
urllib3 (merging session settings, preparing and re-parsing the URL, cookie handling, hooks),
and the instance API makes one per call it serves. So the hot path builds the request target
once per distinct URL, sends it on a per-thread keep-alive pool for the origin and wraps the
answer in a `requests.Response`, with the same timeout, certificate trust, default headers,
JSON encoding and exceptions (requests' own classes, mapped as requests' adapter maps them)
as the outbound session. Cookies are neither stored nor sent: Dataverse's only cookies are
load-balancer affinity, which Microsoft advises turning off for throughput. Calls that would
go through a proxy (proxy environment variables) keep using the outbound session.

Reference: https://urllib3.readthedocs.io/en/stable/reference/urllib3.connectionpool.html,
https://learn.microsoft.com/power-apps/developer/data-platform/api-limits (affinity cookie)
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from functools import lru_cache
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, default_headers, get_encoding_from_headers, get_environ_proxies
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util import Timeout
from urllib3.util.retry import Retry

from setup_portal.outbound import OutboundSession, SandboxDisabled, outbound_session
from setup_portal.sandbox.info import sandbox_info

_local = threading.local()
# As requests' adapter: no retries of its own (upstream.py decides), none after data reached the server.
_NO_RETRIES = Retry(0, read=False)
_DEFAULT_HEADERS = dict(default_headers())


@lru_cache(maxsize=512)
def _target(url: str, params: tuple | None) -> tuple[str, str, int, str]:
    """(scheme, host, port, request target) for `url` with `params`, exactly as requests prepares them."""
    prepared = PreparedRequest()
    prepared.prepare_url(url, list(params) if params else None)
    parts = urlsplit(prepared.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname or "", port, prepared.path_url


@lru_cache(maxsize=64)
def _proxied(scheme: str, host: str, port: int) -> bool:
    """Whether requests (trust_env on) would send this origin through a proxy from the environment."""
    return bool(get_environ_proxies(f"{scheme}://{host}:{port}/"))


def _ca_file(use_sandbox: bool) -> str:
    if use_sandbox:
        if not settings.SANDBOX_ENABLED:
            raise SandboxDisabled("The sandbox tenant is not enabled on this portal.")
        # Read once per thread, as the per-thread session did: sandbox_info() reads a file.
        ca_file = getattr(_local, "sandbox_ca", None)
        if ca_file is None:
            ca_file = _local.sandbox_ca = sandbox_info()["ca_cert_path"]
        return ca_file
    # What requests uses with trust_env on and verify=True.
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH


def _pool(scheme: str, host: str, port: int, ca_file: str) -> urllib3.HTTPConnectionPool:
    pools = getattr(_local, "pools", None)
    if pools is None:
        pools = _local.pools = {}
    key = (scheme, host, port, ca_file)
    pool = pools.get(key)
    if pool is None:
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(host, port, maxsize=1, cert_reqs="CERT_REQUIRED", ca_certs=ca_file)
        else:
            pool = urllib3.HTTPConnectionPool(host, port, maxsize=1)
        pools[key] = pool
    return pool


def _session(use_sandbox: bool) -> OutboundSession:
    name = "sandbox_session" if use_sandbox else "microsoft_session"
    session = getattr(_local, name, None)
    if session is None:
        session = outbound_session(use_sandbox=use_sandbox)
        setattr(_local, name, session)
    return session


def _hashable(params) -> tuple | None:
    if not params:
        return None
    items = params.items() if isinstance(params, dict) else params
    return tuple((name, value) for name, value in items)


def request(method: str, url: str, *, params=None, body=None, headers: dict, use_sandbox: bool) -> requests.Response:
    """One HTTP call; raises requests' exceptions (RequestException) and SandboxDisabled like the outbound session."""
    ca_file = _ca_file(use_sandbox)
    try:
        key = _hashable(params)
        scheme, host, port, target = _target(url, key)
    except TypeError:  # a parameter value that cannot be a cache key: let requests prepare it
        return _session(use_sandbox).request(method, url, params=params, json=body, allow_redirects=False,
                                             headers=headers)
    if settings.OUTBOUND_LOOPBACK_ONLY and not _loopback(host):
        raise requests.ConnectionError(f"OUTBOUND_LOOPBACK_ONLY is on: no call to {host}")
    if not use_sandbox and _proxied(scheme, host, port):
        return _session(use_sandbox).request(method, url, params=params, json=body, allow_redirects=False,
                                             headers=headers)
    sent_headers = {**_DEFAULT_HEADERS, **headers}
    data = None
    if body is not None:
        try:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
        except ValueError as exc:
            raise requests.exceptions.InvalidJSONError(exc) from None
        sent_headers.setdefault("Content-Type", "application/json")
    if data is not None or method not in ("GET", "HEAD"):
        sent_headers["Content-Length"] = str(len(data or b""))
    timeout = settings.OUTBOUND_TIMEOUT_SECONDS
    pool = _pool(scheme, host, port, ca_file)
    try:
        raw = pool.urlopen(method, target, body=data, headers=sent_headers, redirect=False, assert_same_host=False,
                           preload_content=False, decode_content=False, retries=_NO_RETRIES,
                           timeout=Timeout(connect=timeout, read=timeout))
    except (ProtocolError, OSError) as exc:
        raise requests.ConnectionError(exc) from None
    except MaxRetryError as exc:
        if isinstance(exc.reason, ConnectTimeoutError) and not isinstance(exc.reason, NewConnectionError):
            raise requests.ConnectTimeout(exc) from None
        if isinstance(exc.reason, Urllib3SSLError):
            raise requests.exceptions.SSLError(exc) from None
        raise requests.ConnectionError(exc) from None
    except ClosedPoolError as exc:
        raise requests.ConnectionError(exc) from None
    except Urllib3SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None
    except ReadTimeoutError as exc:
        raise requests.ReadTimeout(exc) from None
    except Urllib3HTTPError as exc:
        raise requests.RequestException(exc) from None
    try:
        content = raw.read(decode_content=True)
    except ProtocolError as exc:  # requests' own mapping while reading a body
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from None
    except Urllib3SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None
    finally:
        raw.release_conn()
    response = requests.Response()
    response.status_code = raw.status
    response.headers = CaseInsensitiveDict(raw.headers)
    response.reason = raw.reason
    response.url = f"{scheme}://{host}:{port}{target}"
    response.encoding = get_encoding_from_headers(response.headers)
    response.raw = raw
    response._content = content
    response._content_consumed = True
    return response


def _loopback(host: str) -> bool:
    """The outbound session's OUTBOUND_LOOPBACK_ONLY test, on a host name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
