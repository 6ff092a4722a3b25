"""The instance page's "API" panel: where to call the instance, and how its calls went.

Four queries whatever the traffic: one aggregate (calls and errors in the last 24 hours),
one row each for the median and the 95th-percentile latency (an indexed OFFSET into the
day's calls sorted by latency, the same on SQLite and PostgreSQL), and the last 50 calls.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from setup_portal.api.models import ApiCall
from setup_portal.instances.models import Instance

from .snippets import languages

WINDOW = dt.timedelta(hours=24)
LAST_CALLS = 50
API_PATH = "/api/v1/crm/"
# What the table shows; the trace (bodies) is never read here.
CALL_FIELDS = ("id", "created_at", "method", "resource", "status", "latency_ms", "upstream_ms", "retries",
               "request_id")


def base_url() -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + API_PATH


def curl_example() -> str:
    return f'curl -H "Authorization: Bearer $INSTANCE_TOKEN" "{base_url()}accounts?pageSize=5"'


def _percentile(calls: QuerySet, count: int, fraction: float) -> int | None:
    """Nearest-rank percentile of latency_ms over `calls` (`count` rows); one query."""
    if not count:
        return None
    rank = max(math.ceil(fraction * count), 1) - 1
    return calls.order_by("latency_ms").values_list("latency_ms", flat=True)[rank]


def _stamp(value: dt.datetime) -> dict:
    local = timezone.localtime(value)
    return {"iso": local.isoformat(), "text": local.strftime("%Y-%m-%d %H:%M:%S")}


def panel(instance: Instance, *, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    day = ApiCall.objects.filter(instance=instance, created_at__gte=now - WINDOW)
    totals = day.order_by().aggregate(calls=Count("id"), errors=Count("id", filter=Q(status__gte=400)),
                                      server_errors=Count("id", filter=Q(status__gte=500)))
    calls = totals["calls"]
    last = list(ApiCall.objects.filter(instance=instance).only(*CALL_FIELDS)[:LAST_CALLS])
    for call in last:
        call.stamp = _stamp(call.created_at)
        call.status_css = "badge-ok" if call.status < 400 else "badge-warn" if call.status < 500 else "badge-bad"
    return {
        "base_url": base_url(), "curl": curl_example(), "snippets": languages(base_url()),
        "calls": calls, "errors": totals["errors"], "server_errors": totals["server_errors"],
        "error_rate": round(100 * totals["errors"] / calls, 1) if calls else None,
        "p50": _percentile(day, calls, 0.50), "p95": _percentile(day, calls, 0.95),
        "last": last, "last_limit": LAST_CALLS,
    }
