"""The per-instance rate limit: a token bucket in the shared cache, answered before Dataverse's limits."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from setup_portal.api import ratelimit
from setup_portal.api.models import ApiCall
from setup_portal.api.ratelimit import Limit, parse_limit
from tests.api.conftest import Caller, issue_token
from tests.instances.factories import sandbox_s2s_instance

URL = "/api/v1/crm/accounts"


def test_it_answers_429_with_retry_after_past_the_burst(app, clean_sandbox, settings):
    settings.CRM_RATE_LIMIT = "1/m burst 3"
    statuses = [app.get(URL, {"pageSize": "1"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = app.get(URL, {"pageSize": "1"})
    assert refused.status_code == 429 and refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "portal_rate_limit"
    last = ApiCall.objects.filter(instance=app.instance).latest("id")
    assert last.status == 429 and last.upstream_ms is None  # Dataverse never saw it


def test_it_limits_each_instance_on_its_own(app, alice, sandbox, clean_sandbox, settings):
    settings.CRM_RATE_LIMIT = "1/m burst 1"
    assert app.get(URL, {"pageSize": "1"}).status_code == 200
    assert app.get(URL, {"pageSize": "1"}).status_code == 429
    other_instance = sandbox_s2s_instance(alice, sandbox.info)
    other = Caller(other_instance, issue_token(other_instance), app.client)
    assert other.get(URL, {"pageSize": "1"}).status_code == 200


def test_it_refills_the_bucket_over_time(app, settings):
    settings.CRM_RATE_LIMIT = "10/s burst 2"
    assert ratelimit.take("i") is None and ratelimit.take("i") is None
    wait = ratelimit.take("i")
    assert 0 < wait <= 0.1
    time.sleep(wait)
    assert ratelimit.take("i") is None
    assert 0 < ratelimit.take("i") <= 0.1


@pytest.mark.parametrize("spec, limit", [("20/s burst 40", Limit(20, 40)), ("600/m", Limit(10, 10)),
                                         ("1/h", Limit(1 / 3600, 1)), ("off", None), ("0.5/s burst 1", Limit(0.5, 1))])
def test_it_reads_the_setting(spec, limit):
    assert parse_limit(spec) == limit


@pytest.mark.parametrize("spec", ["20", "20/d", "-1/s", "0/s", "20/s burst", "20/s burst 0", "lots"])
def test_it_refuses_a_setting_it_cannot_read(spec, settings):
    with pytest.raises(ValueError):
        parse_limit(spec)
    settings.CRM_RATE_LIMIT = spec
    with pytest.raises(ImproperlyConfigured):
        ratelimit.configured_limit()


@pytest.fixture
def redis_cache(settings):
    """The shared cache on Redis (the production set-up), in the runs that have a Redis broker."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("runs with the PostgreSQL/Redis variant (CELERY_BROKER_URL=redis://...)")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": settings.CELERY_BROKER_URL, "KEY_PREFIX": "crm-api-tests"}}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_it_keeps_the_bucket_in_redis_atomically(redis_cache, settings):
    from concurrent.futures import ThreadPoolExecutor

    settings.CRM_RATE_LIMIT = "1/m burst 5"
    with ThreadPoolExecutor(10) as pool:
        waits = list(pool.map(lambda _: ratelimit.take("redis-instance"), range(20)))
    assert waits.count(None) == 5  # one script per call: no race lets a sixth through
    assert all(0 < w <= 60 for w in waits if w is not None)


def test_it_keeps_the_bucket_in_the_database_atomically(transactional_db, settings):
    """Without Redis the bucket is one row changed by one statement: racing calls let no extra one through."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from setup_portal.api.models import RateBucket

    settings.CRM_RATE_LIMIT = "1/m burst 5"
    # Whatever CACHE_URL says (Redis in CI's second pass), this is the path taken without Redis.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    def take(_):
        try:
            return ratelimit.take("database-instance")
        finally:
            connection.close()  # each worker thread's own connection

    with ThreadPoolExecutor(10) as pool:
        waits = list(pool.map(take, range(20)))
    assert waits.count(None) == 5
    # At most one interval, give or take the moments between the racing threads' clock readings.
    assert all(0 < w <= 61 for w in waits if w is not None)
    assert RateBucket.objects.filter(bucket="database-instance").count() == 1
