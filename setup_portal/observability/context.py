"""The ids a log line carries, kept in context variables: set where they become known (a request,
a task, a provisioning job, an instance API call) and read by the log filter (logs.py)."""

from __future__ import annotations

import os
import re
import socket
import uuid
from contextvars import ContextVar, Token

FIELDS = ("request_id", "user_id", "instance_id", "job_id", "task_id")
_vars: dict[str, ContextVar[str | None]] = {name: ContextVar(name, default=None) for name in FIELDS}

# A caller's X-Request-ID is kept when it looks like an id (a UUID, a load balancer's trace id), so
# nothing odd reaches a log line, a header or the call log; anything else gets a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{7,63}")


def request_id_from(header: str | None) -> str:
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def bind(**values) -> list[tuple[str, Token]]:
    """Set ids (None and "" left out); returns what `unbind` needs to put the earlier values back."""
    return [(name, _vars[name].set(str(value))) for name, value in values.items() if value not in (None, "")]


def bind_to_request(request, **values) -> None:
    """Set ids until the request ends (the middleware puts the earlier values back)."""
    if hasattr(request, "context_tokens"):
        request.context_tokens.extend(bind(**values))


def unbind(tokens: list[tuple[str, Token]]) -> None:
    for name, token in reversed(tokens):
        _vars[name].reset(token)


def clear() -> None:
    """Forget every id: a Celery pool process runs one task after another in one thread."""
    for var in _vars.values():
        var.set(None)


def get(name: str) -> str | None:
    return _vars[name].get()


def current() -> dict[str, str]:
    return {name: value for name, var in _vars.items() if (value := var.get()) is not None}


def worker_name() -> str:
    """This process's name on the rows it claims (provisioning jobs, deliveries, polls): host, pid
    and a random part, so two claims by one process are told apart too."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
