"""A per-instance rate limit, so the API answers 429 itself before Dataverse's own limits bite.

A token bucket kept as one number in the shared cache, the "theoretical arrival time" of the
generic cell rate algorithm (GCRA): it allows `rate` calls a second on average and bursts of
`burst`, and the time until the next allowed call is the Retry-After. Reading and writing the
number are two cache calls, so racing calls on different web processes may let a few more
through than the burst: a limit meant to stay under Dataverse's, not an exact quota.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*(?:burst\s+(\d+))?\s*$")
_PERIOD = {"s": 1, "m": 60, "h": 3600}
_KEY = "crm:rate:{}"


@dataclass(frozen=True)
class Limit:
    rate: float  # calls per second
    burst: int


def parse_limit(spec: str) -> Limit | None:
    """'20/s burst 40', '600/m' (burst = one second's worth, at least 1); 'off' or '' -> None."""
    if spec.strip().lower() in ("", "off", "0"):
        return None
    match = _SPEC.match(spec)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{spec!r} is not a rate limit: write it like '20/s burst 40', '600/m' or 'off'")
    rate = float(match.group(1)) / _PERIOD[match.group(2)]
    burst = int(match.group(3)) if match.group(3) else max(1, math.ceil(rate))
    if burst < 1:
        raise ValueError(f"{spec!r}: the burst must be at least 1")
    return Limit(rate, burst)


@lru_cache(maxsize=4)
def _parsed(spec: str) -> Limit | None:
    try:
        return parse_limit(spec)
    except ValueError as exc:
        raise ImproperlyConfigured(f"CRM_RATE_LIMIT: {exc}") from None


def configured_limit() -> Limit | None:
    return _parsed(settings.CRM_RATE_LIMIT)


def take(instance_id) -> float | None:
    """Spend one call of the instance's allowance: None if allowed, else seconds to wait."""
    limit = configured_limit()
    if limit is None:
        return None
    key = _KEY.format(instance_id)
    now = time.time()
    interval = 1.0 / limit.rate
    arrival = max(cache.get(key) or now, now)
    allowed_from = arrival + interval - limit.burst * interval
    if now < allowed_from:
        return allowed_from - now
    cache.set(key, arrival + interval, timeout=math.ceil(limit.burst * interval) + 1)
    return None
