"""Celery tasks: counted by name and outcome with their duration, their log lines carrying the task id
and the id of the request that queued them (sent along in the task's headers)."""

from __future__ import annotations

import time

from celery import signals
from django.conf import settings

from . import context, exporter, metrics, tracing

REQUEST_ID_HEADER = "portal_request_id"
_started: dict[str, float] = {}


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **_) -> None:
    request_id = context.get("request_id")
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, **_) -> None:
    context.clear()
    context.bind(task_id=task_id, request_id=getattr(task.request, REQUEST_ID_HEADER, None))
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_ended(task_id=None, task=None, state=None, **_) -> None:
    started = _started.pop(task_id, None)
    metrics.celery_tasks.labels(task.name, (state or "unknown").lower()).inc()
    if started is not None:
        metrics.celery_duration.labels(task.name).observe(time.perf_counter() - started)
    context.clear()


@signals.worker_init.connect
def _worker_started(**_) -> None:
    """The worker's main process, before its pool starts: a fresh multiprocess folder, and the
    series on METRICS_PORT when set (the instances gauge is the web's to answer)."""
    exporter.clear_multiprocess_dir()
    if settings.METRICS_PORT:
        exporter.serve(settings.METRICS_PORT)


@signals.worker_process_init.connect
def _pool_process_started(**_) -> None:
    """Each pool process traces on its own (its span exporter's thread cannot cross the fork)."""
    tracing.configure()


@signals.setup_logging.connect
def _keep_the_portals_logging(**_) -> None:
    """With a receiver here Celery leaves logging as Django's LOGGING set it: the worker's lines get
    the same format (LOG_FORMAT) and ids as the web's."""
