"""The sandbox's asynchronous service for webhook steps: after a committed change, POST the
execution context to each matching step's service endpoint, in the background.

Dataverse runs asynchronous steps as system jobs and retries a failing endpoint (use-webhooks:
"if no response is returned before the timeout period or if the response StatusCode value is not
within the 2xx range" the job fails; the asynchronous service retries it). Here: a few sender
threads, each owning the records whose id hashes to it, so posts about one record go out in commit
order; a failing post is retried with backoff (RETRY_DELAYS seconds, scaled by
SANDBOX_WEBHOOK_RETRY_SCALE) before the next post of that thread, then given up and counted.
The fault switch (`/_sandbox/webhook-faults`) drops a share of posts silently (a push the receiver
never gets) or delays each one.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import requests
from django.conf import settings

from . import info
from .data import plugins
from .data.schema import TABLES

log = logging.getLogger(__name__)
THREADS = 4
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
TIMEOUT = 60.0  # Dataverse's webhook timeout


@dataclass
class Faults:
    drop_percent: float = 0.0
    delay_ms: int = 0

    def as_dict(self) -> dict:
        return {"drop_percent": self.drop_percent, "delay_ms": self.delay_ms}


@dataclass
class Counters:
    sent: int = 0
    dropped: int = 0
    retried: int = 0
    gave_up: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "dropped": self.dropped, "retried": self.retried, "gave_up": self.gave_up}


@dataclass
class Job:
    data: object  # service.EnvironmentData
    entity_set: str
    key: str
    op: str
    version: int
    by: str
    committed_at: str
    step: dict
    endpoint: dict


class Dispatcher:
    def __init__(self) -> None:
        self.faults = Faults()
        self.counters = Counters()
        self.queues: list[queue.SimpleQueue[Job]] = [queue.SimpleQueue() for _ in range(THREADS)]
        self.random = random.Random()
        self._started = False
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for index, q in enumerate(self.queues):
                threading.Thread(target=self._run, args=(q,), name=f"sandbox-webhooks-{index}", daemon=True).start()
            self._started = True

    def reset(self) -> None:
        self.faults = Faults()
        with self.counters.lock:
            self.counters.sent = self.counters.dropped = self.counters.retried = self.counters.gave_up = 0

    # Called by the data store after each commit, under its write lock: only look up and queue.
    def listener(self, data):
        def on_commit(changes: list[tuple]) -> None:
            committed_at = plugins.now_stamp()
            for entity_set, key, op, version, by in changes:
                table = TABLES.get(entity_set)
                if table is None or op not in plugins.OPS:
                    continue
                for step, endpoint in data.plugins.steps_for(table.logical_name, plugins.OPS[op]):
                    self._start()
                    job = Job(data, entity_set, key, op, version, by, committed_at, step, endpoint)
                    self.queues[zlib.crc32(key.encode()) % THREADS].put(job)
        return on_commit

    def _run(self, jobs: queue.SimpleQueue[Job]) -> None:
        session = requests.Session()
        session.trust_env = False
        while True:
            job = jobs.get()
            try:
                self._deliver(session, job)
            except Exception:  # noqa: BLE001 - a sender thread must outlive any one post
                log.exception("webhook post failed")

    def _deliver(self, session: requests.Session, job: Job) -> None:
        table = TABLES[job.entity_set]
        row = None if job.op == "delete" else job.data.store.get(table, job.key)
        context = plugins.execution_context(job.data.env, job.data.business_unit, table, job.op, job.key,
                                            job.version, job.by, row, job.step, job.committed_at)
        body = json.dumps(context, separators=(",", ":")).encode()
        url, headers = _address(job.endpoint)
        headers.update({"Content-Type": "application/json", "x-ms-dynamics-organization": _organization(job.data.env),
                        "x-ms-dynamics-entity-name": table.logical_name,
                        "x-ms-dynamics-request-name": plugins.OPS[job.op],
                        "x-ms-correlation-request-id": context["CorrelationId"]})
        faults = self.faults
        if faults.delay_ms:
            time.sleep(faults.delay_ms / 1000)
        if faults.drop_percent and self.random.random() * 100 < faults.drop_percent:
            self.counters.add("dropped")
            return
        scale = float(getattr(settings, "SANDBOX_WEBHOOK_RETRY_SCALE", 1.0))
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                self.counters.add("retried")
                time.sleep(delay * scale)
            if attempt and job.data.plugins.get(plugins.SERVICE_ENDPOINTS, job.endpoint["serviceendpointid"]) is None:
                return  # unregistered meanwhile: the system job is cancelled with its step
            try:
                response = session.post(url, data=body, headers=headers, timeout=TIMEOUT, verify=_verify(url),
                                        allow_redirects=False)
            except requests.RequestException:
                continue
            if 200 <= response.status_code < 300:
                self.counters.add("sent")
                return
        self.counters.add("gave_up")


def _address(endpoint: dict) -> tuple[str, dict]:
    """The endpoint's URL and headers with its registered authentication."""
    url, authtype, authvalue = endpoint["url"], endpoint["authtype"], endpoint["authvalue"] or ""
    headers: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    if authtype == plugins.WEBHOOK_KEY:
        query = [("code", authvalue)]
    elif authtype == plugins.HTTP_HEADER:
        headers.update(plugins.parse_settings(authvalue))
    elif authtype == plugins.HTTP_QUERY_STRING:
        query = plugins.parse_settings(authvalue)
    if query:
        url += ("&" if "?" in url else "?") + urlencode(query)
    return url, headers


def _organization(env) -> str:
    """Stands in for the environment's domain name (contoso.crm.dynamics.com): its URL without the scheme."""
    return env.url(info.bases()[1]).split("://", 1)[-1]


def _verify(url: str) -> str | bool:
    return str(Path(settings.SANDBOX_DIR) / "ca.pem") if url.startswith("https://") else True


DISPATCHER = Dispatcher()
