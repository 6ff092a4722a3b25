"""The nightly recount of the dashboard's counters (beat: dashboard/schedule.py). The task keeps its
name from when it lived in stats/."""

from __future__ import annotations

import logging

from celery import shared_task

from setup_portal.instances.models import Instance
from setup_portal.stats import counters

log = logging.getLogger(__name__)


@shared_task(name="stats.check_counters", time_limit=1800, soft_time_limit=1700)
def check_counters() -> int:
    """Repair any drift and log it: drift means a writer bypassed instances/state.py's transition()."""
    drift = counters.check(Instance.objects.all(), repair=True)
    for item in drift[:50]:
        log.warning("Dashboard counter drift repaired: %s", item)
    if drift:
        log.error("%d dashboard counter(s) had drifted from the instances and were repaired", len(drift))
    return len(drift)
