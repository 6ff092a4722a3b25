"""gunicorn settings for bench/crm_api_tail.py: the portal's own (config/gunicorn.py) plus a timing line
per request, so a slow answer under wrk can be split into where it waited.

For each request, in the worker that served it: `parsed` (the request read, right before the
application is called), `written` (the answer sent: gunicorn's access log is called then) and
`closed` (the response closed, its resource closers run: the call log INSERT). One line per
request in BENCH_TIMING_DIR/<pid>.tsv: client port, parsed, written, closed (time.time()), and 1 when
it was the first request its thread served (the thread then opens its database connection and
its kept-open connection to Dataverse).
Between one request's `closed` and the next `parsed` on the same keep-alive connection the
connection waited: back in gunicorn's poller, for its main loop, for a free thread, for the GIL.
"""

from __future__ import annotations

import os
import threading
import time

from gunicorn.glogging import Logger

from config.gunicorn import *  # noqa: F403 - the portal's settings and hooks

_files: dict = {}
_served = threading.local()


class TimingLogger(Logger):
    def access(self, resp, req, environ, request_time):
        req.bench_written = time.time()
        super().access(resp, req, environ, request_time)


logger_class = TimingLogger


def pre_request(worker, req) -> None:
    req.bench_parsed = time.time()


def post_request(worker, req, environ, resp) -> None:
    closed = time.time()
    out = _files.get(os.getpid())
    if out is None:
        out = _files[os.getpid()] = open(os.path.join(os.environ["BENCH_TIMING_DIR"], f"{os.getpid()}.tsv"), "a")
    port = environ.get("REMOTE_PORT", "") if environ else ""
    first = int(not getattr(_served, "before", False))
    _served.before = True
    out.write(f"{port}\t{req.bench_parsed:.6f}\t{getattr(req, 'bench_written', closed):.6f}\t{closed:.6f}\t{first}\n")
    out.flush()
