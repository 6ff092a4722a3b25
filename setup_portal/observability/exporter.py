"""The processes' series, summed over processes in multiprocess mode, and the METRICS_PORT server.

Nothing here touches the database: the Celery worker's main process starts the server before
Django's apps are loaded. The instances gauge (scrape.py) is added by the web's scrapes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from django.db import connections
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.registry import Collector


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


def clear_multiprocess_dir() -> None:
    """Files left by an earlier run would add their counts to this one's (the library's advice: wipe on start)."""
    folder = multiprocess_dir()
    if folder:
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)


class ProcessesCollector(Collector):
    def collect(self):
        folder = multiprocess_dir()
        if not folder:
            yield from REGISTRY.collect()
            return
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        yield from registry.collect()


class _Scrape(CollectorRegistry):
    def __init__(self, collectors: tuple[Collector, ...]):
        super().__init__(auto_describe=False)
        for collector in collectors:
            self.register(collector)

    def collect(self):
        try:
            yield from super().collect()
        finally:
            # The server's thread keeps no database connection between scrapes (in the gunicorn
            # master, none that a forked worker could inherit half-used).
            connections.close_all()


_server_lock = threading.Lock()
_server = None


def serve(port: int, *more: Collector) -> None:
    """Serve the series on a port of their own (METRICS_PORT), once per process group: the gunicorn
    master, the Celery worker's main process. Pool processes only write their files."""
    global _server
    with _server_lock:
        if _server is None:
            _server = start_http_server(port, registry=_Scrape((ProcessesCollector(), *more)))
