"""gunicorn settings and hooks (`gunicorn -c python:config.gunicorn ...`, as every way of starting the
portal does): the access log's format, and the Prometheus series of every worker.

With PROMETHEUS_MULTIPROC_DIR set, each worker writes its counts to files there and a scrape sums
them; the master wipes what an earlier run left. With METRICS_PORT set, the master serves the
series on that port (observability/exporter.py), so /metrics need not be on the public port.
"""

from __future__ import annotations

import os
import sys

import django
from prometheus_client import multiprocess

from setup_portal.observability.exporter import clear_multiprocess_dir, serve

# gunicorn's default format less the user name (%(u)s, read from an Authorization: Basic header):
# an API key sent as the Basic user (`curl -u dcp_…:`) would be written to the access log.
access_log_format = '%(h)s %(l)s - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def on_starting(server) -> None:
    clear_multiprocess_dir()


def when_ready(server) -> None:
    port = int(os.environ.get("METRICS_PORT") or 0)
    if not port:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    # Models are importable only once Django is set up, here in the master.
    from setup_portal.observability.scrape import InstancesCollector

    serve(port, InstancesCollector())


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker) -> None:
    # The instance API's call log rows still queued for this worker's writer thread (api/crm/calllog.py).
    calllog = sys.modules.get("setup_portal.api.crm.calllog")
    if calllog is not None:
        calllog.flush()
