"""Service protection API limits: per user and environment, over a sliding window — the
number of requests, their combined execution time, and how many run at once. Crossing one
gives Dataverse's 429 with Retry-After and the limit's own error code.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace

from . import errors
from .errors import DataverseError


@dataclass(frozen=True)
class Limits:
    requests: int = 6000
    execution_ms: int = 1_200_000
    concurrent: int = 52
    window_seconds: int = 300
    # Test knob, not a Dataverse limit: extra time each request spends "executing".
    delay_ms: int = 0

    def changed(self, spec: dict) -> Limits:
        values = {}
        for name in ("requests", "execution_ms", "concurrent", "window_seconds", "delay_ms"):
            if name in spec:
                value = spec[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "delay_ms" else 1):
                    raise ValueError(f"{name} must be a positive integer")
                if name == "delay_ms" and value > 30_000:
                    raise ValueError("delay_ms must be at most 30000")
                values[name] = value
        unknown = set(spec) - {"requests", "execution_ms", "concurrent", "window_seconds", "delay_ms"}
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return replace(self, **values)

    def as_dict(self) -> dict:
        return asdict(self)


class Usage:
    """One user's requests in the window: [start, milliseconds] each, plus those running now."""

    def __init__(self) -> None:
        self.events: deque[list[float]] = deque()
        self.execution_ms = 0.0
        self.running = 0

    def prune(self, now: float, window: float) -> None:
        while self.events and self.events[0][0] <= now - window:
            self.execution_ms -= self.events.popleft()[1]


class Limiter:
    def __init__(self, limits: Limits):
        self.defaults = limits
        self.limits = limits
        self.lock = threading.Lock()
        self.usage: dict[tuple[str, str], Usage] = {}
        self.names: dict[tuple[str, str], str] = {}

    def configure(self, limits: Limits) -> None:
        """New limits start from a clean slate, so a test's earlier requests do not count."""
        with self.lock:
            self.limits = limits
            self.usage.clear()

    def restore(self) -> None:
        self.configure(self.defaults)

    def enter(self, key: tuple[str, str], name: str = "") -> list[float]:
        """Count a request in, or raise the 429 for the first limit it crosses."""
        now = time.monotonic()
        limits = self.limits
        with self.lock:
            usage = self.usage.setdefault(key, Usage())
            self.names[key] = name
            usage.prune(now, limits.window_seconds)
            if usage.running >= limits.concurrent:
                raise _throttled(errors.CONCURRENCY_LIMIT, "Number of concurrent requests exceeded the limit of "
                                 f"{limits.concurrent}.", 1)
            if len(usage.events) >= limits.requests:
                wait = usage.events[0][0] + limits.window_seconds - now
                raise _throttled(errors.REQUESTS_LIMIT, f"Number of requests exceeded the limit of {limits.requests} "
                                 f"over time window of {limits.window_seconds} seconds.", wait)
            if usage.execution_ms >= limits.execution_ms:
                raise _throttled(errors.EXECUTION_TIME_LIMIT, (
                    f"Combined execution time of incoming requests exceeded limit of {limits.execution_ms:,} "
                    f"milliseconds over time window of {limits.window_seconds} seconds. Decrease number of "
                    "concurrent requests or reduce the duration of requests and try again later."),
                    self._execution_wait(usage, limits, now))
            event = [now, 0.0]
            usage.events.append(event)
            usage.running += 1
        return event

    def leave(self, key: tuple[str, str], event: list[float], seconds: float) -> None:
        with self.lock:
            usage = self.usage.get(key)
            if usage is None:  # limits were reconfigured while this request ran
                return
            usage.running = max(0, usage.running - 1)
            if usage.events and usage.events[0][0] <= event[0] <= usage.events[-1][0]:
                event[1] = seconds * 1000
                usage.execution_ms += event[1]

    def remaining(self, key: tuple[str, str]) -> tuple[int, int]:
        """(requests, execution milliseconds) left in the window, for the x-ms-ratelimit headers."""
        limits = self.limits
        with self.lock:
            usage = self.usage.get(key)
            if usage is None:
                return limits.requests, limits.execution_ms
            return (max(0, limits.requests - len(usage.events)),
                    max(0, int(limits.execution_ms - usage.execution_ms)))

    def report(self) -> list[dict]:
        """Every user seen in the window, for the overview page and the limits hook."""
        now = time.monotonic()
        limits = self.limits
        rows = []
        with self.lock:
            for key, usage in sorted(self.usage.items()):
                usage.prune(now, limits.window_seconds)
                used = len(usage.events)
                rows.append({"environment": key[0], "systemuserid": key[1], "name": self.names.get(key, ""),
                             "requests": used, "requests_remaining": max(0, limits.requests - used),
                             "execution_ms": int(usage.execution_ms),
                             "execution_ms_remaining": max(0, int(limits.execution_ms - usage.execution_ms)),
                             "running": usage.running})
        return rows

    @staticmethod
    def _execution_wait(usage: Usage, limits: Limits, now: float) -> float:
        total = usage.execution_ms
        for start, spent in usage.events:
            total -= spent
            if total < limits.execution_ms:
                return start + limits.window_seconds - now
        return limits.window_seconds


def _throttled(code: str, message: str, wait: float) -> DataverseError:
    retry_after = max(1, math.ceil(wait))
    return DataverseError(429, code, message, headers={"Retry-After": str(retry_after)})
