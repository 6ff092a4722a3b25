"""The client's connections for the instance API's calls (client.send): a keep-alive connection per
thread and origin, without requests' per-call work.

A call through a requests session costs about four times the CPU of the same exchange on an
http.client connection (merging session settings, preparing and re-parsing the URL in requests
and again in urllib3, cookie handling, hooks), and the instance API makes one per call it
serves. So the request target is prepared once per distinct URL (by requests' own code, so it
is the same), sent on a connection kept open per thread and origin (checked before reuse, as
urllib3 does, so one the server has closed is replaced instead of failing), and the answer is
wrapped in a `requests.Response`, with the outbound session's timeout, certificate trust,
default headers (gzip), JSON encoding and requests' exception classes, mapped as requests maps
urllib3's. Cookies are neither stored nor sent: Dataverse's only cookies are load-balancer
affinity, which Microsoft advises turning off for throughput. Calls that would go through a
proxy (proxy environment variables) keep using the outbound session.

Reference: https://docs.python.org/3/library/http.client.html,
https://learn.microsoft.com/power-apps/developer/data-platform/api-limits (affinity cookie)
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
import zlib
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, default_headers, get_encoding_from_headers, get_environ_proxies
from urllib3.util.wait import wait_for_read

from setup_portal.outbound import OutboundSession, SandboxDisabled, is_loopback_host, outbound_session
from setup_portal.sandbox.info import sandbox_info

_local = threading.local()
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


def _tls_context(ca_file: str) -> ssl.SSLContext:
    # Keyed by the file's modification time too: a sandbox that made a new CA at the same path is
    # trusted on the next connection, as urllib3 (which reads the file per connection) would.
    return _tls_context_for(ca_file, os.stat(ca_file).st_mtime_ns)


@lru_cache(maxsize=8)
def _tls_context_for(ca_file: str, modified: int) -> ssl.SSLContext:
    # Certificate and host name checked, TLS 1.2 or later: what urllib3 sets up for requests.
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _connection(scheme: str, host: str, port: int, ca_file: str, timeout: float) -> http.client.HTTPConnection:
    """This thread's open connection to the origin, or a new one (connected here, so a failure to
    connect is told apart from one during the exchange)."""
    connections = getattr(_local, "connections", None)
    if connections is None:
        connections = _local.connections = {}
    key = (scheme, host, port, ca_file)
    conn = connections.pop(key, None)
    # Readable while idle means the server closed it (or sent something unasked): not reusable.
    if conn is not None and conn.sock is not None and not wait_for_read(conn.sock, timeout=0.0):
        conn.sock.settimeout(timeout)
        return conn
    if conn is not None:
        conn.close()
    try:
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context(ca_file))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
    except (OSError, ssl.SSLError) as exc:  # the CA file is missing or unreadable
        raise requests.exceptions.SSLError(exc) from None
    try:
        conn.connect()
    except TimeoutError as exc:
        conn.close()
        raise requests.ConnectTimeout(exc) from None
    except ssl.SSLError as exc:
        conn.close()
        raise requests.exceptions.SSLError(exc) from None
    except OSError as exc:
        conn.close()
        raise requests.ConnectionError(exc) from None
    _local.opened = getattr(_local, "opened", 0) + 1
    return conn


def connections_opened() -> int:
    """How many connections this thread has opened (each one a TCP and TLS handshake)."""
    return getattr(_local, "opened", 0)


def _keep(scheme: str, host: str, port: int, ca_file: str, conn: http.client.HTTPConnection) -> None:
    _local.connections[(scheme, host, port, ca_file)] = conn


def _decoded(content: bytes, encoding: str) -> bytes:
    """The body without its Content-Encoding (the gzip and deflate requests asks for)."""
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(content)
        if encoding == "deflate":
            try:
                return zlib.decompress(content)
            except zlib.error:  # raw deflate, as some servers send it
                return zlib.decompress(content, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    return content


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


def request(method: str, url: str, *, params=None, body=None, headers: dict, use_sandbox: bool,
            timeout: float | None = None) -> requests.Response:
    """One HTTP call (`body`: JSON, or bytes sent as they are); raises requests' exceptions (RequestException)
    and SandboxDisabled like the outbound session.
    `timeout`: seconds to connect and for each read (default OUTBOUND_TIMEOUT_SECONDS)."""
    ca_file = _ca_file(use_sandbox)
    timeout = timeout or settings.OUTBOUND_TIMEOUT_SECONDS
    try:
        key = _hashable(params)
        scheme, host, port, target = _target(url, key)
    except TypeError:  # a parameter value that cannot be a cache key: let requests prepare it
        return _session(use_sandbox).request(method, url, params=params, allow_redirects=False,
                                             headers=headers, timeout=timeout, **_payload(body))
    if settings.OUTBOUND_LOOPBACK_ONLY and not is_loopback_host(host):
        raise requests.ConnectionError(f"OUTBOUND_LOOPBACK_ONLY is on: no call to {host}")
    if not use_sandbox and _proxied(scheme, host, port):
        return _session(use_sandbox).request(method, url, params=params, allow_redirects=False,
                                             headers=headers, timeout=timeout, **_payload(body))
    sent_headers = {**_DEFAULT_HEADERS, **headers}
    data = None
    if isinstance(body, bytes):  # a $batch body: its Content-Type is in the headers
        data = body
    elif body is not None:
        try:
            data = json.dumps(body, allow_nan=False).encode("utf-8")
        except ValueError as exc:
            raise requests.exceptions.InvalidJSONError(exc) from None
        sent_headers.setdefault("Content-Type", "application/json")
    if data is not None or method not in ("GET", "HEAD"):
        sent_headers["Content-Length"] = str(len(data or b""))
    conn = _connection(scheme, host, port, ca_file, timeout)
    try:
        try:
            conn.request(method, target, body=data, headers=sent_headers)
            raw = conn.getresponse()
        except TimeoutError as exc:
            raise requests.ReadTimeout(exc) from None
        except ssl.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        except (http.client.HTTPException, OSError) as exc:
            raise requests.ConnectionError(exc) from None
        except ValueError as exc:  # a header value http.client refuses (a line break): requests refuses it too
            raise requests.exceptions.InvalidHeader(exc) from None
        try:
            content = raw.read()
        except TimeoutError as exc:  # requests' own mapping while reading a body
            raise requests.ConnectionError(exc) from None
        except ssl.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        except (http.client.HTTPException, OSError) as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from None
    except BaseException:
        conn.close()
        raise
    if raw.will_close:
        conn.close()
    else:
        _keep(scheme, host, port, ca_file, conn)
    headers_in = CaseInsensitiveDict()
    for name, value in raw.getheaders():
        headers_in[name] = f"{headers_in[name]}, {value}" if name in headers_in else value
    response = requests.Response()
    response.status_code = raw.status
    response.headers = headers_in
    response.reason = raw.reason
    response.url = f"{scheme}://{host}:{port}{target}"
    response.encoding = get_encoding_from_headers(headers_in)
    response._content = _decoded(content, headers_in.get("Content-Encoding", "").strip().lower())
    response._content_consumed = True
    return response


def _payload(body) -> dict:
    """requests' keyword for a body: bytes as they are (a $batch body), anything else as JSON."""
    return {"data": body} if isinstance(body, bytes) else {"json": body}
