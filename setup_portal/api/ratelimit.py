"""A per-instance rate limit, so the API answers 429 itself before Dataverse's own limits bite.

A token bucket kept as one number, the "theoretical arrival time" of the generic cell rate
algorithm (GCRA): it allows `rate` calls a second on average and bursts of `burst`, and the time
until the next allowed call is the Retry-After. With Redis as the shared cache the check is one
Lua script (atomic, one round trip, Redis's clock). Otherwise, on SQLite and PostgreSQL, it is one
atomic INSERT ... ON CONFLICT DO UPDATE on RateBucket (the database cache took four statements and
a transaction per call, and racing processes could let a few more through than the burst); on
any other database a read and a write in the cache, which may let a few more through: a limit
meant to stay under Dataverse's, not an exact quota.
"""

from __future__ import annotations

import math
import re
import time
import weakref
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from .models import RateBucket

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


def setting_limit(name: str) -> Limit | None:
    """The limit the setting `name` holds (parsed once per value); ImproperlyConfigured if it does not parse."""
    return _parsed(name, getattr(settings, name))


@lru_cache(maxsize=8)
def _parsed(name: str, spec: str) -> Limit | None:
    try:
        return parse_limit(spec)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def configured_limit() -> Limit | None:
    """The instance API's limit per instance."""
    return setting_limit("CRM_RATE_LIMIT")


# KEYS[1]: the bucket; ARGV: interval (s), burst, expiry (ms). Returns "" when allowed, else the wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local arrival = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
local allowed_from = arrival + interval - burst * interval
if now < allowed_from then return tostring(allowed_from - now) end
redis.call('SET', KEYS[1], tostring(arrival + interval), 'PX', ARGV[3])
return ''
"""


def take(instance_id) -> float | None:
    """Spend one call of the instance's allowance: None if allowed, else seconds to wait."""
    return spend(str(instance_id), configured_limit())


def spend(bucket: str, limit: Limit | None) -> float | None:
    """Spend one call from `bucket` under `limit` (None: unlimited): None if allowed, else seconds to wait.

    The instance API's buckets are instance ids; other limits (the management API's, per API key)
    name theirs with a prefix of their own, e.g. "apikey:42".
    """
    if limit is None:
        return None
    key = _KEY.format(bucket)
    interval = 1.0 / limit.rate
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _take_in_redis(backend, key, interval, limit.burst)
    connection = connections[RateBucket.objects.db]
    if connection.vendor in _GREATEST:
        return _take_in_database(connection, bucket, interval, limit.burst)
    now = time.time()
    arrival = max(cache.get(key) or now, now)
    allowed_from = arrival + interval - limit.burst * interval
    if now < allowed_from:
        return allowed_from - now
    cache.set(key, arrival + interval, timeout=math.ceil(limit.burst * interval) + 1)
    return None


# Django's Redis cache builds a new client object around its connection pool on every call,
# which costs more CPU than the script's round trip; one client (and its registered script,
# sent by SHA after the first call) per pool does the same work.
_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _script(backend: RedisCache, full_key: str):
    pool = backend._cache._get_connection_pool(write=True)
    script = _scripts.get(pool)
    if script is None:
        script = backend._cache.get_client(full_key, write=True).register_script(_GCRA)
        _scripts[pool] = script
    return script


def _take_in_redis(backend: RedisCache, key: str, interval: float, burst: int) -> float | None:
    full_key = backend.make_and_validate_key(key)
    expiry_ms = math.ceil(burst * interval * 1000) + 1000
    wait = _script(backend, full_key)(keys=[full_key], args=[repr(interval), burst, expiry_ms])
    return float(wait) if wait else None


# The SQL function that picks the larger of two numbers, for the databases the one-statement bucket supports.
_GREATEST = {"sqlite": "MAX", "postgresql": "GREATEST"}
_bucket_sql: dict[tuple[str, str], tuple[str, str]] = {}


def _database_sql(connection) -> tuple[str, str]:
    key = (connection.vendor, connection.alias)
    sql = _bucket_sql.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        table, bucket, arrival = quote(RateBucket._meta.db_table), quote("bucket"), quote("arrival")
        greatest = _GREATEST[connection.vendor]
        # A new bucket takes the call; an existing one only while the burst allows it (the WHERE),
        # and RETURNING gives no row when it refuses.
        take = (f"INSERT INTO {table} ({bucket}, {arrival}) VALUES (%s, %s) ON CONFLICT ({bucket}) DO UPDATE "
                f"SET {arrival} = {greatest}({table}.{arrival}, %s) + %s "
                f"WHERE {greatest}({table}.{arrival}, %s) + %s <= %s RETURNING {arrival}")
        read = f"SELECT {arrival} FROM {table} WHERE {bucket} = %s"
        sql = _bucket_sql[key] = (take, read)
    return sql


def _take_in_database(connection, bucket: str, interval: float, burst: int) -> float | None:
    take, read = _database_sql(connection)
    now = time.time()
    slack = burst * interval - interval  # allowed while max(arrival, now) + interval - burst * interval <= now
    with connection.cursor() as cursor:
        cursor.execute(take, [bucket, now + interval, now, interval, now, -slack, now])
        if cursor.fetchone() is not None:
            return None
        cursor.execute(read, [bucket])
        row = cursor.fetchone()
    arrival = max(row[0] if row else now, now)
    return max(arrival - slack - now, 1e-6)
