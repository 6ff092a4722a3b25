"""The portal's Prometheus series, defined once; the code that does the work only counts and observes.

Labels are low-cardinality by rule: a route name, a method, a status, a task name, an outcome,
a resource kind or a table among the seven friendly ones. Never an instance id, a user or a URL.

With PROMETHEUS_MULTIPROC_DIR set (before this module is imported), prometheus-client keeps each
value in a file of that folder per process, so several gunicorn workers and Celery pool processes
are summed at scrape time (views.py). Reference: https://prometheus.github.io/client_python/multiprocess/
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram

# Seconds. From a fast page (5 ms) to a provisioning step that waited on Azure AD (about a minute).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Jobs, webhook lag and poll lag: minutes and hours matter there.
SLOW_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 10800, 86400)

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

http_requests = Counter("portal_http_requests", "HTTP requests answered, by route name, method and status.",
                        ["route", "method", "status"])
http_duration = Histogram("portal_http_request_duration_seconds", "Time to answer an HTTP request.",
                          ["route", "method"], buckets=LATENCY_BUCKETS)

celery_tasks = Counter("portal_celery_tasks", "Celery tasks run, by task name and outcome.", ["task", "outcome"])
celery_duration = Histogram("portal_celery_task_duration_seconds", "Time a Celery task ran.", ["task"],
                            buckets=LATENCY_BUCKETS)

provisioning_jobs = Counter("portal_provisioning_jobs", "Provisioning jobs ended by a worker, by outcome.",
                            ["outcome"])
provisioning_duration = Histogram("portal_provisioning_job_duration_seconds",
                                  "Time from a provisioning job's creation to its end.", ["outcome"],
                                  buckets=SLOW_BUCKETS)

instance_api_calls = Counter("portal_instance_api_calls", "Instance API calls, by resource kind, method and status.",
                             ["resource", "method", "status"])
instance_api_duration = Histogram("portal_instance_api_call_duration_seconds",
                                  "Time the portal took to answer an instance API call.", ["resource"],
                                  buckets=LATENCY_BUCKETS)
dataverse_duration = Histogram("portal_dataverse_duration_seconds",
                               "Time Dataverse took for an instance API call (retries included).", ["resource"],
                               buckets=LATENCY_BUCKETS)

token_refreshes = Counter("portal_token_refreshes", "Access tokens asked of Azure AD for an instance, by outcome "
                          "(refreshed: a new grant; cached: msal's cache still had one; failed).", ["outcome"])

webhook_deliveries = Counter("portal_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"])
webhook_attempts = Histogram("portal_webhook_delivery_attempts", "Attempts a delivery took, when it succeeded "
                             "or gave up.", ["outcome"], buckets=(1, 2, 3, 4, 5, 6, 8, 10))
webhook_lag = Histogram("portal_webhook_delivery_lag_seconds", "Time from an event to its successful delivery.",
                        buckets=SLOW_BUCKETS)

poll_lag = Histogram("portal_poll_lag_seconds", "How late a table's change poll started after it was due.",
                     ["table"], buckets=SLOW_BUCKETS)


@functools.cache
def child(metric: Counter | Histogram, *labels: str) -> Counter | Histogram:
    """`metric.labels(*labels)`, kept: labels() checks and locks on every call, a few microseconds of the
    instance API's hot path each time. The label sets are few by rule, so the cache stays small."""
    return metric.labels(*labels)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"
