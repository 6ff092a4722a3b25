"""Parsing what a caller sends besides $filter: the Prefer header, paging cookies
($skiptoken) and change-tracking tokens ($deltatoken) — and making the ones we hand out.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results
and https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from . import errors
from .errors import DataverseError

DELTA_TOKEN_LIFETIME = timedelta(days=7)  # Organization.ExpireChangeTrackingInDays default
EXPIRED_MESSAGE = "Version stamp associated with the client has expired. Please perform a full sync."


def parse_prefer(header: str) -> dict[str, str]:
    """`odata.maxpagesize=2, odata.include-annotations="a,b"` -> {name: value}; commas inside quotes stay."""
    prefs: dict[str, str] = {}
    parts, current, quoted = [], [], False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    for part in parts:
        name, _, value = part.strip().partition("=")
        if name:
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


def page_size(prefs: dict[str, str]) -> int | None:
    """odata.maxpagesize, when it is a positive number; Dataverse never pages above 5,000."""
    raw = prefs.get("odata.maxpagesize", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < 1:
        return None
    return min(int(raw), 5000)


@dataclass(frozen=True)
class Cookie:
    """Where the next page starts: its number, the last key of the page before, and for change
    tracking the version the listing is a snapshot of."""

    page: int
    last: str = ""
    first: str = ""
    version: int = 0
    tracking: bool = False


def make_skiptoken(cookie: Cookie, key_name: str) -> str:
    inner = f'<cookie page="{cookie.page - 1}"'
    if cookie.version:
        inner += f' version="{cookie.version}"'
    inner += ">"
    if cookie.last:
        inner += f'<{key_name} last="{{{cookie.last.upper()}}}" first="{{{cookie.first.upper()}}}" />'
    inner += "</cookie>"
    return (f'<cookie pagenumber="{cookie.page}" pagingcookie="{quote(inner, safe="")}" '
            f'istracking="{cookie.tracking}" />')


def parse_skiptoken(text: str, key_name: str) -> Cookie:
    """Read back a cookie we handed out; anything else is a 400, never an exception."""
    bad = errors.bad_query("The $skiptoken value is not a paging cookie issued by this service.")
    if "<!" in text or len(text) > 4000:
        raise bad
    try:
        outer = ET.fromstring(text)
        page = int(outer.get("pagenumber", ""))
        inner = ET.fromstring(unquote(outer.get("pagingcookie", ""))) if outer.get("pagingcookie") else None
        version = int(inner.get("version", "0")) if inner is not None else 0
        key = inner.find(key_name) if inner is not None else None
        last = (key.get("last") or "").strip("{}").lower() if key is not None else ""
        first = (key.get("first") or "").strip("{}").lower() if key is not None else ""
    except (ET.ParseError, ValueError, TypeError):
        raise bad from None
    if outer.tag != "cookie" or page < 2 or version < 0:
        raise bad
    return Cookie(page, last, first, version, outer.get("istracking") == "True")


def make_deltatoken(version: int, when: datetime | None = None) -> str:
    """Dataverse's shape: `<version>!<MM/dd/yyyy HH:mm:ss>` (UTC)."""
    when = when or datetime.now(UTC)
    return f"{version}!{when:%m/%d/%Y %H:%M:%S}"


def parse_deltatoken(text: str, *, current: int, floor: int) -> int:
    """The version a delta token stands for; Dataverse's ExpiredVersionStamp when it is unknown,
    older than the last reset or expiry, or older than seven days."""
    expired = DataverseError(400, errors.EXPIRED_VERSION_STAMP, EXPIRED_MESSAGE)
    version_text, _, when_text = text.partition("!")
    try:
        version = int(version_text)
        when = datetime.strptime(when_text, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise expired from None
    if version <= floor or version > current or datetime.now(UTC) - when > DELTA_TOKEN_LIFETIME:
        raise expired
    return version
