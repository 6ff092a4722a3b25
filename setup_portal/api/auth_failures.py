"""Failed authentications per client address, for both APIs (API keys and instance tokens).

Each wrong, unknown, expired or revoked credential counts one failure for the caller's address in
a window of the shared cache (AUTH_FAILURE_LIMIT, "20/m" by default); past the limit a failure is
answered 429 with Retry-After (the rest of the window) instead of 401. Only failures touch the
counter: a call with a good credential costs nothing more and is never refused by it, so the
instance API's hot path stays as it was, and a client behind the same proxy as a guesser keeps
working. (Guessing a credential gains nothing from it either: they are 256 bits of randomness.)
"""

from __future__ import annotations

import math
import re
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from .problems import Problem

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h)\s*$")
_PERIOD = {"s": 1, "m": 60, "h": 3600}
_KEY = "api:auth-failures:{}:{}"


@lru_cache(maxsize=4)
def _parsed(spec: str) -> tuple[int, int] | None:
    """'20/m' -> (20 failures, 60 seconds); 'off' -> None."""
    if spec.strip().lower() in ("", "off"):
        return None
    match = _SPEC.match(spec)
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"AUTH_FAILURE_LIMIT: {spec!r} is not a limit: write it like '20/m' or 'off'")
    return int(match.group(1)), _PERIOD[match.group(2)]


def failure_limit() -> tuple[int, int] | None:
    return _parsed(settings.AUTH_FAILURE_LIMIT)


def note_failure(request) -> Problem | None:
    """Count a failed authentication from the (Django) request's address: a 429 problem to answer
    with when the address is past the limit, else None (answer the 401)."""
    limit = failure_limit()
    if limit is None:
        return None
    allowed, period = limit
    now = time.time()
    window = int(now // period)
    key = _KEY.format(request.META.get("REMOTE_ADDR") or "-", window)
    cache.add(key, 0, timeout=period + 1)
    try:
        failures = cache.incr(key)
    except ValueError:  # the entry expired between add and incr
        cache.set(key, 1, timeout=period + 1)
        failures = 1
    if failures <= allowed:
        return None
    wait = max(1, math.ceil((window + 1) * period - now))
    return Problem(429, "Too many failed authentications from this address; wait before trying again.",
                   slug="too-many-failed-authentications", title="Too many failed authentications",
                   headers={"Retry-After": str(wait)})
