"""The path of a raw call (/api/v1/crm/raw/<path>), parsed and rebuilt below the instance's Web API.

The path arrives percent-decoded (so `%2e%2e` is already `..`). Each segment must be
non-empty and made of the characters Web API paths use (entity sets, keys in parentheses,
quoted alternate keys, `$count`, function parameters); anything else — `.` or `..`,
backslashes, `//`, a scheme, `%` left over from double encoding — is refused. The segments
are then percent-encoded again and the joined URL is checked to still be on the base's
origin and under its path.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

MAX_PATH_LENGTH = 2000
MAX_SEGMENTS = 8
_SEGMENT = re.compile(r"[A-Za-z0-9_.\-()=,'@$*+]+")
_SAFE = "()=,'@$*+-_."


class RawPathError(ValueError):
    pass


def raw_target(base: str, path: str) -> str:
    """`path` re-encoded, relative to `base` (the Web API root, ending in '/'); RawPathError when refused."""
    if not path:
        raise RawPathError("Name a Web API path after raw/, for example raw/accounts or raw/WhoAmI.")
    if len(path) > MAX_PATH_LENGTH:
        raise RawPathError(f"The path is longer than {MAX_PATH_LENGTH} characters.")
    if "\\" in path:
        raise RawPathError("Backslashes are not allowed in the path.")
    segments = path.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise RawPathError(f"The path has more than {MAX_SEGMENTS} segments.")
    for segment in segments:
        if not segment:
            raise RawPathError("Empty segments ('//', a leading or trailing '/') are not allowed in the path.")
        if segment in (".", ".."):
            raise RawPathError("'.' and '..' are not allowed in the path.")
        if not _SEGMENT.fullmatch(segment):  # not match: its "$" lets a trailing newline through
            raise RawPathError("The path may hold only letters, digits and _ . - ( ) = , ' @ $ * + "
                               "(no scheme, host, '%' or other characters).")
    relative = "/".join(quote(segment, safe=_SAFE) for segment in segments)
    target, root = urlsplit(base + relative), urlsplit(base)
    if (target.scheme, target.netloc) != (root.scheme, root.netloc) or not target.path.startswith(root.path) \
            or target.query or target.fragment:
        raise RawPathError("The path leaves the instance's Web API.")
    return relative


def rewrite_links(value, base: str, root: str):
    """Dataverse's own URLs in an answer (next and delta links, entity ids) pointed at the portal's raw/."""
    if isinstance(value, str):
        return root + value[len(base):] if value.startswith(base) else value
    if isinstance(value, dict):
        return {k: rewrite_links(v, base, root) if k in ("@odata.nextLink", "@odata.deltaLink") else v
                for k, v in value.items()}
    return value


def without_nulls(data):
    """The answer with null fields left out of its record(s), for instances with filter_nulls on."""
    if isinstance(data, dict):
        kept = {k: v for k, v in data.items() if v is not None}
        if isinstance(kept.get("value"), list):
            kept["value"] = [without_nulls(row) if isinstance(row, dict) else row for row in kept["value"]]
        return kept
    return data
