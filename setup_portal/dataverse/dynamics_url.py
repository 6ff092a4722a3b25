"""The Dynamics CRM URL an admin pastes, normalised and checked.

This is also the portal's guard against server-side request forgery: the worker
sends requests (with tokens) to this host, so only Dynamics hosts pass — or the
local sandbox, and only when it is enabled. The worker calls
`normalize_dynamics_url` again right before any HTTP call.

Reference: https://learn.microsoft.com/power-platform/admin/new-datacenter-regions
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

SANDBOX_REGION = "Sandbox"

# crmN -> region; an unlisted N still passes (Microsoft adds regions), shown by its host name.
CRM_REGIONS = {
    "": "North America",
    "2": "South America",
    "3": "Canada",
    "4": "Europe, Middle East and Africa",
    "5": "Asia Pacific",
    "6": "Oceania",
    "7": "Japan",
    "8": "India",
    "9": "US Government Community Cloud (GCC)",
    "11": "United Kingdom",
    "12": "France",
    "14": "South Africa",
    "15": "United Arab Emirates",
    "16": "Germany",
    "17": "Switzerland",
}

MAX_RAW_LENGTH = 2048  # a pasted main.aspx?... link can be long; anything longer is not a URL someone copied
MAX_HOST_LENGTH = 253
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PUBLIC_HOST = re.compile(rf"^(?P<org>{_LABEL})\.crm(?P<n>[1-9][0-9]?)?\.dynamics\.com$")
_USGOV_HOST = re.compile(rf"^(?P<org>{_LABEL})\.crm\.microsoftdynamics\.us$")
_CHINA_HOST = re.compile(rf"^(?P<org>{_LABEL})\.crm\.dynamics\.cn$")
# Paths people copy from the browser or the developer resources page; they are stripped.
_KNOWN_PATHS = re.compile(r"^/(api/data|main\.aspx|apps/|xrmservices/|tools/|webresources/|_?common/)", re.I)
_SANDBOX_PATH = re.compile(r"^/dataverse/(?P<env>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?P<rest>/.*)?$")
# Characters that never belong in a host or an origin someone pastes; their presence means
# markup, quoting or an injection attempt rather than a typo.
_FORBIDDEN = set("<>\"'`\\{}|^ \t\r\n\x00")


@dataclass(frozen=True)
class DynamicsUrl:
    url: str  # https://<host>[/dataverse/<env> for the sandbox], no trailing slash
    host: str
    region: str
    cloud: str  # a wizard.models.Cloud value


class InvalidDynamicsUrl(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalize_dynamics_url(raw: str, *, sandbox_allowed: bool,
                           sandbox_origins: Iterable[str] | None = None) -> DynamicsUrl:
    """Return the canonical form of a Dynamics CRM URL, or raise InvalidDynamicsUrl.

    `sandbox_origins` (e.g. {"https://127.0.0.1:8443"}) defaults to the configured sandbox.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidDynamicsUrl("Enter your Dynamics CRM URL, for example https://contoso.crm.dynamics.com.")
    if len(text) > MAX_RAW_LENGTH:
        raise InvalidDynamicsUrl("That is too long to be a Dynamics CRM URL. Copy just the address, "
                                 "for example https://contoso.crm.dynamics.com.")
    if not text.isascii():
        raise InvalidDynamicsUrl("The URL contains characters that only look like Latin letters or punctuation. "
                                 "Type the address by hand using plain letters, digits, dots and hyphens.")
    if any(ch in _FORBIDDEN or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidDynamicsUrl("The URL contains spaces, quotes or brackets. Paste only the address, "
                                 "for example https://contoso.crm.dynamics.com.")
    if "://" not in text:
        if re.match(r"^[a-z][a-z0-9+.-]*:", text, re.I) and not re.match(r"^[^:/]+:\d", text):
            raise InvalidDynamicsUrl("Only https:// addresses are accepted.")
        text = "https://" + text  # "contoso.crm.dynamics.com" typed without a scheme
    scheme = text.split("://", 1)[0].lower()
    if scheme == "http":
        raise InvalidDynamicsUrl("Use https://, not http://. Dynamics CRM is only reachable over https.")
    if scheme != "https":
        raise InvalidDynamicsUrl("Only https:// addresses are accepted.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidDynamicsUrl("This is not a valid address. Check for stray colons or brackets.") from None
    netloc = parts.netloc
    if "@" in netloc:
        raise InvalidDynamicsUrl("Remove the user name or password before the host name (the part before “@”).")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidDynamicsUrl("The address has no host name. It should look like https://contoso.crm.dynamics.com.")

    if sandbox_allowed:
        origins = {o.lower().rstrip("/") for o in (sandbox_origins if sandbox_origins is not None
                                                   else sandbox_backchannel_origins())}
        origin = f"https://{host}:{port}" if port is not None else f"https://{host}"
        if origin in origins:
            return _sandbox_url(origin, parts.path)

    if _is_ip_address(host):
        raise InvalidDynamicsUrl("IP addresses are not accepted. Use your environment's name, "
                                 "for example https://contoso.crm.dynamics.com.")
    if port is not None or netloc.endswith(":"):
        raise InvalidDynamicsUrl("Remove the port number (the “:” and digits after the host name); "
                                 "Dynamics CRM uses the standard https port.")
    if len(host) > MAX_HOST_LENGTH:
        raise InvalidDynamicsUrl("The host name is too long to be a Dynamics CRM environment.")
    if any(label.startswith("xn--") or label[2:4] == "--" for label in host.split(".")):
        raise InvalidDynamicsUrl("The host name is internationalised (it starts with “xn--”) and is not a "
                                 "Dynamics CRM environment. Type the address by hand.")
    region, cloud = _region_and_cloud(host)
    _check_path(parts.path)
    return DynamicsUrl(url=f"https://{host}", host=host, region=region, cloud=cloud)


def _region_and_cloud(host: str) -> tuple[str, str]:
    if match := _PUBLIC_HOST.match(host):
        n = match.group("n") or ""
        return CRM_REGIONS.get(n, f"Region crm{n}"), "public"
    if _USGOV_HOST.match(host):
        return "US Government (GCC High)", "usgov"
    if _CHINA_HOST.match(host):
        return "China", "china"
    if re.search(r"(^|\.)(dynamics\.com|microsoftdynamics\.us|dynamics\.cn)$", host):
        raise InvalidDynamicsUrl("That is a Microsoft address but not a Dynamics CRM environment. Use the "
                                 "address you sign in to, like https://contoso.crm.dynamics.com "
                                 "(or .crm4.dynamics.com and so on for other regions).")
    raise InvalidDynamicsUrl("This is not a Dynamics CRM address. It should end in .crm.dynamics.com "
                             "(or .crmN.dynamics.com for other regions, .crm.microsoftdynamics.us for "
                             "US Government, .crm.dynamics.cn for China).")


def _check_path(path: str) -> None:
    """Only the paths people copy from Dynamics are stripped; anything else is a mistake worth a message."""
    if path in ("", "/") or _KNOWN_PATHS.match(path):
        return
    raise InvalidDynamicsUrl("Remove the path after the host name; the Dynamics CRM URL is just "
                             "https://<your org>.crm.dynamics.com.")


def _sandbox_url(origin: str, path: str) -> DynamicsUrl:
    match = _SANDBOX_PATH.match(path.lower())
    rest = match.group("rest") if match else None
    if not match or (rest not in (None, "/") and not rest.startswith("/api/data")):
        raise InvalidDynamicsUrl("A sandbox address must be the sandbox's Dataverse URL, "
                                 "ending in /dataverse/<environment name>.")
    env = match.group("env")
    return DynamicsUrl(url=f"{origin}/dataverse/{env}", host=origin.split("://", 1)[1],
                       region=SANDBOX_REGION, cloud="public")


def _is_ip_address(host: str) -> bool:
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        pass
    # inet_aton shapes a resolver may accept: 2130706433, 0x7f000001, 127.1, 0177.0.0.1
    return bool(re.fullmatch(r"(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}", candidate))


def sandbox_backchannel_origins() -> set[str]:
    """Origins of the sandbox's Dataverse stand-in: the configured one and the one it actually bound.

    The running sandbox records its real ports in runtime.json (only trusted while its process lives).
    """
    origins = {f"https://{settings.SANDBOX_HOST}:{settings.SANDBOX_HTTPS_PORT}".lower()}
    try:
        from setup_portal.sandbox.info import bases
    except ImportError:
        return origins
    backchannel = bases()[1]
    try:
        parts = urlsplit(backchannel)
        if parts.scheme == "https" and parts.hostname and parts.port:
            origins.add(f"https://{parts.hostname}:{parts.port}".lower())
    except ValueError:
        pass
    return origins
