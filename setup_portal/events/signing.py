"""Standard Webhooks signing (https://www.standardwebhooks.com/), with the `standardwebhooks` library.

The body is the JSON `{"type", "timestamp", "data"}` serialised once; the signature covers
exactly those bytes. `webhook-id` is the Event's id, the same on every retry and redelivery,
so a receiver can drop duplicates. During a secret rotation the header carries one `v1,...`
signature per secret, space-separated; a receiver that knows either secret verifies.
"""

from __future__ import annotations

import datetime as dt
import json

from standardwebhooks import Webhook


def body_of(event_type: str, occurred_at: dt.datetime, data: dict) -> bytes:
    payload = {"type": event_type, "timestamp": occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
               "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def signed_headers(event_id: str, body: bytes, secrets: list[str], *, now: dt.datetime) -> dict[str, str]:
    """The three Standard Webhooks headers (plus Content-Type) for one attempt."""
    # The library formats the timestamp from a naive-or-UTC datetime; hand it UTC.
    at = now.astimezone(dt.UTC)
    text = body.decode()
    signatures = " ".join(Webhook(secret).sign(event_id, at, text) for secret in secrets if secret)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Dynamics-CRM-Setup-Portal-Webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
