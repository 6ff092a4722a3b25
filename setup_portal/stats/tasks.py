"""The nightly recount of the dashboard's counters (beat: stats/schedule.py)."""

from __future__ import annotations

import logging

from celery import shared_task

from . import counters

log = logging.getLogger(__name__)


@shared_task(name="stats.check_counters", time_limit=1800, soft_time_limit=1700)
def check_counters() -> int:
    """Repair any drift and log it: drift means a writer bypassed instances/state.py's transition()."""
    drift = counters.check(repair=True)
    for item in drift[:50]:
        log.warning("Dashboard counter drift repaired: %s", item)
    if drift:
        log.error("%d dashboard counter(s) had drifted from the instances and were repaired", len(drift))
    return len(drift)
