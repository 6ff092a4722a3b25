"""The outbound guard: the only way the portal calls a customer's callback URL.

A callback URL is typed by a person and then called by a worker inside the portal's network,
so it must not become a way to reach that network (server-side request forgery). The rules:

- https only; plain http only to loopback while the sandbox tenant is on (its webhook bins);
- loopback (only while the sandbox is on) only for the sandbox's own webhook bins: one of its two
  listeners' ports and the path /_sandbox/webhooks/<bin>, never another port or path of this machine;
- no credentials in the URL;
- the host is resolved (every A/AAAA) and refused when ANY address is private, loopback,
  link-local, multicast, reserved, unspecified, shared (CGNAT, 100.64/10) or a cloud metadata
  address — IPv4 hidden inside IPv6 (mapped, NAT64, 6to4, Teredo) is unwrapped first, and
  decimal/octal/short IPv4 forms are whatever the resolver makes of them, so they are checked
  as the address they really are. Loopback is allowed only while the sandbox is on;
- the connection goes to the address that was checked, never to a second lookup: a name that
  resolves to a public address for the check and to 10.0.0.1 a moment later (DNS rebinding)
  still reaches the checked address. requests is told the IP in the URL, while a pinned
  adapter keeps the real name for the Host header, TLS SNI and certificate verification;
- redirects are never followed, timeouts are short (connect 3 s, WEBHOOK_TIMEOUT_SECONDS = 10 s in
  all), and at most
  64 kB of the answer is read (1 kB kept).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from setup_portal.outbound import outbound_session
from setup_portal.sandbox.info import bases as sandbox_bases

CONNECT_TIMEOUT = 3.0
MAX_READ = 64 * 1024
EXCERPT_BYTES = 1024
MAX_URL_LENGTH = 2000

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; Python counts it neither private nor global
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
SANDBOX_BIN_PATH = re.compile(r"/_sandbox/webhooks/[A-Za-z0-9_-]{1,64}")


class OutboundRefused(Exception):
    """The callback URL may not be called; the message says why, in words for the admin."""


@dataclass(frozen=True)
class Target:
    """A checked callback URL and the addresses it resolved to (every one of them allowed)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IP, ...]


@dataclass
class Outcome:
    """What one POST got: a status (None when no answer came), its time, the start of the body, an error."""

    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def system_resolver(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def embedded_ipv4(ip: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    return None


def address_problem(ip: IP, *, allow_loopback: bool) -> str | None:
    """Why this address may not be called, or None when it may."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return address_problem(inner, allow_loopback=allow_loopback)
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip in SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


def is_sandbox_bin(scheme: str, port: int, path: str) -> bool:
    """Whether a loopback URL is a bin of this portal's sandbox webhook inspector: the port of one of
    its listeners (http or https, as the scheme says) and the inspector's path for one bin."""
    listeners = {(urlsplit(base).scheme, urlsplit(base).port) for base in sandbox_bases()}
    return (scheme, port) in listeners and SANDBOX_BIN_PATH.fullmatch(path) is not None


def check_url(url: str, *, resolver: Resolver = system_resolver) -> Target:
    """Parse, resolve and check a callback URL; raises OutboundRefused with the reason."""
    if len(url) > MAX_URL_LENGTH:
        raise OutboundRefused(f"The callback URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("The callback URL is not a valid URL.") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in ("https", "http") or not host:
        raise OutboundRefused("The callback URL must be an https:// URL with a host name.")
    if port == 0:
        raise OutboundRefused("The callback URL's port must be between 1 and 65535.")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("The callback URL may not contain a user name or password.")
    sandbox = bool(settings.SANDBOX_ENABLED)
    if host == "localhost" or host.endswith(".localhost"):
        if not sandbox:
            raise OutboundRefused("The callback URL points to this machine (localhost).")
    port = port or (443 if scheme == "https" else 80)
    try:
        found = resolver(host, port)
    except (OSError, UnicodeError):
        raise OutboundRefused(f"The callback host {host} could not be resolved.") from None
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(a.split("%", 1)[0]) for a in found))
    if not addresses:
        raise OutboundRefused(f"The callback host {host} could not be resolved.")
    for ip in addresses:
        problem = address_problem(ip, allow_loopback=sandbox)
        if problem:
            raise OutboundRefused(f"The callback host {host} resolves to {problem} ({ip}); "
                                  "webhooks go to public addresses only.")
    if any(ip.is_loopback for ip in addresses) and not (
            all(ip.is_loopback for ip in addresses) and is_sandbox_bin(scheme, port, parts.path)):
        raise OutboundRefused("The callback URL points to this machine: only the sandbox's webhook bins "
                              "(/_sandbox/webhooks/…, from “Use the sandbox tenant”) may.")
    if scheme == "http" and not (sandbox and all(ip.is_loopback for ip in addresses)):
        raise OutboundRefused("The callback URL must use https:// (plain http only reaches the sandbox).")
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=addresses)


class PinnedAdapter(HTTPAdapter):
    """Connects to the IP in the URL while TLS sends and verifies the real host name."""

    def __init__(self, hostname: str):
        self.hostname = hostname
        super().__init__(max_retries=0, pool_connections=1, pool_maxsize=1)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs["server_hostname"] = self.hostname
        pool_kwargs["assert_hostname"] = self.hostname
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def _pinned_url(target: Target, ip: IP) -> str:
    parts = urlsplit(target.url)
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    return urlunsplit((target.scheme, f"{literal}:{target.port}", parts.path or "/", parts.query, ""))


def _host_header(target: Target) -> str:
    name = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return name if target.port == default else f"{name}:{target.port}"


def _connect_failed(exc: requests.RequestException) -> bool:
    """True when nothing was sent: the next resolved address may be tried."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def post(target: Target, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST `body` to a checked target: pinned address, no redirects, short timeouts, capped read."""
    started = time.monotonic()
    deadline = started + settings.WEBHOOK_TIMEOUT_SECONDS
    error = ""
    for ip in target.addresses:
        # The sandbox's bins sit on loopback behind the sandbox CA; anything else uses the system's trust.
        session = outbound_session(use_sandbox=bool(settings.SANDBOX_ENABLED and ip.is_loopback))
        session.mount(f"{target.scheme}://", PinnedAdapter(target.host))
        try:
            remaining = max(0.1, deadline - time.monotonic())
            response = session.post(_pinned_url(target, ip), data=body,
                                    headers={**headers, "Host": _host_header(target)}, allow_redirects=False,
                                    stream=True, timeout=(min(CONNECT_TIMEOUT, remaining), remaining))
        except requests.RequestException as exc:
            error = _describe(exc)
            session.close()
            if _connect_failed(exc) and time.monotonic() < deadline:
                continue
            return Outcome(None, _ms(started), error=error)
        try:
            return _read(response, started, deadline)
        finally:
            response.close()
            session.close()
    return Outcome(None, _ms(started), error=error or "No address to connect to.")


def _read(response: requests.Response, started: float, deadline: float) -> Outcome:
    data = bytearray()
    error = ""
    try:
        for chunk in response.iter_content(8192):
            data += chunk
            if len(data) >= MAX_READ:
                break
            if time.monotonic() > deadline:
                error = f"The answer took longer than {settings.WEBHOOK_TIMEOUT_SECONDS} s; the rest was not read."
                break
    except requests.RequestException as exc:
        error = _describe(exc)
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location", "")[:200]
        error = f"Redirect to {location or '(no Location)'} not followed."
    excerpt = bytes(data[:EXCERPT_BYTES]).decode("utf-8", errors="replace")
    return Outcome(response.status_code, _ms(started), excerpt=excerpt, error=error)


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"Could not connect within {CONNECT_TIMEOUT:g} s."
    if isinstance(exc, requests.Timeout):
        return f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS} s."
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed: the certificate was not valid for the host."
    if isinstance(exc, requests.ConnectionError) and "OUTBOUND_LOOPBACK_ONLY" in str(exc):
        return str(exc)
    if isinstance(exc, requests.ConnectionError):
        return "Could not connect: the connection was refused or dropped."
    return f"The request failed: {type(exc).__name__}."


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
