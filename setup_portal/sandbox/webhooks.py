"""Webhook bins: the sandbox's stand-in for a customer's webhook receiver.

A bin is named by its URL (`/_sandbox/webhooks/{bin}`) and comes into being on first use. It
keeps what it received (newest first, capped), verifies each delivery's Standard Webhooks
signature with the secret(s) it was given — exactly as a customer's receiver would, with the
`standardwebhooks` library — and can be told to fail the next `times` deliveries with a 500
or by not answering in time, to rehearse the portal's retries. Memory only, like the rest of
the sandbox's runtime state; POST /_sandbox/reset empties it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

BIN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_BINS = 200
MAX_KEPT = 2000  # deliveries kept per bin
BODY_KEPT = 16 * 1024
FAIL_MODES = ("500", "timeout")
DEFAULT_TIMEOUT_DELAY_MS = 12_000  # longer than the portal's 10 s per attempt


@dataclass
class Received:
    seq: int
    at: float
    webhook_id: str
    timestamp: str
    signature: str
    body: str
    event_type: str
    verified: bool | None  # None: the bin has no secret to check with
    verify_error: str
    answered: str  # "200", "500" or "timeout"

    def as_dict(self) -> dict:
        return {"seq": self.seq, "at": self.at, "webhook_id": self.webhook_id, "timestamp": self.timestamp,
                "signature": self.signature, "body": self.body, "type": self.event_type,
                "verified": self.verified, "verify_error": self.verify_error, "answered": self.answered}


@dataclass
class Bin:
    name: str
    secrets: list[str] = field(default_factory=list)
    fail: str | None = None
    times: int | None = None  # failures left; None = until told otherwise
    delay_ms: int = DEFAULT_TIMEOUT_DELAY_MS
    received: deque = field(default_factory=lambda: deque(maxlen=MAX_KEPT))
    count: int = 0

    def config(self) -> dict:
        return {"has_secret": bool(self.secrets), "secrets": len(self.secrets), "fail": self.fail,
                "times": self.times, "delay_ms": self.delay_ms}


def parse_config(body: dict) -> dict:
    """Validate `{"secret"|"secrets", "fail": "500"|"timeout"|null, "times": n, "delay_ms": n}`."""
    out: dict = {}
    if "secret" in body or "secrets" in body:
        given = body.get("secrets", [body.get("secret")] if body.get("secret") is not None else [])
        if not isinstance(given, list) or not all(isinstance(s, str) and s for s in given):
            raise ValueError("secret must be a string (secrets: a list of strings)")
        for secret in given:
            try:
                Webhook(secret)
            except Exception:
                raise ValueError("a secret must look like whsec_<base64>") from None
        out["secrets"] = given
    if "fail" in body:
        fail = body["fail"]
        if fail is not None and str(fail) not in FAIL_MODES:
            raise ValueError('fail must be "500", "timeout" or null')
        out["fail"] = None if fail is None else str(fail)
    if "times" in body:
        times = body["times"]
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or null")
        out["times"] = times
    if "delay_ms" in body:
        delay = body["delay_ms"]
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 30_000:
            raise ValueError("delay_ms must be an integer from 0 to 30000")
        out["delay_ms"] = delay
    return out


class Bins:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bins: OrderedDict[str, Bin] = OrderedDict()

    def get(self, name: str) -> Bin:
        """The bin of that name, made on first use; the least recently used goes past MAX_BINS."""
        with self.lock:
            found = self.bins.get(name)
            if found is None:
                found = self.bins[name] = Bin(name)
                while len(self.bins) > MAX_BINS:
                    self.bins.popitem(last=False)
            self.bins.move_to_end(name)
            return found

    def configure(self, name: str, changes: dict) -> Bin:
        found = self.get(name)
        with self.lock:
            for key, value in changes.items():
                setattr(found, key, value)
        return found

    def clear(self, name: str) -> None:
        with self.lock:
            self.bins.pop(name, None)

    def reset(self) -> None:
        with self.lock:
            self.bins.clear()

    def receive(self, name: str, body: bytes, headers: dict[str, str]) -> Received:
        """Record a delivery and decide how to answer it (counting down a failure)."""
        found = self.get(name)
        text = body.decode("utf-8", errors="replace")
        verified, verify_error = self._verify(found.secrets, text, headers)
        try:
            event_type = str(json.loads(text).get("type", ""))
        except (ValueError, AttributeError):
            event_type = ""
        with self.lock:
            answered = "200"
            if found.fail:
                answered = found.fail
                if found.times is not None:
                    found.times -= 1
                    if found.times <= 0:
                        found.fail, found.times = None, None
            found.count += 1
            item = Received(found.count, time.time(), headers.get("webhook-id", ""),
                            headers.get("webhook-timestamp", ""), headers.get("webhook-signature", ""),
                            text[:BODY_KEPT], event_type, verified, verify_error, answered)
            found.received.appendleft(item)
        return item

    @staticmethod
    def _verify(secrets: list[str], text: str, headers: dict[str, str]) -> tuple[bool | None, str]:
        if not secrets:
            return None, "no secret given to this bin"
        error = ""
        for secret in secrets:
            try:
                Webhook(secret).verify(text, headers)
                return True, ""
            except (WebhookVerificationError, ValueError) as exc:
                error = str(exc) or type(exc).__name__
        return False, error
