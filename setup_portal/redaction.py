"""What counts as a secret in text the portal keeps or prints: the call log's traced bodies
(api/crm/calllog.py) and every log line (observability/logs.py) go through the same rules."""

from __future__ import annotations

import re

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"secret|token|password|passwd|authori[sz]ation|api[-_]?key|cookie|credential|signature",
                         re.IGNORECASE)
_SECRET_VALUE = re.compile(r"eyJ[\w-]{8,}\.[\w-]+\.?[\w-]*|dci_[\w-]{8,}|bearer\s+\S+", re.IGNORECASE)


def secret_key(name: str) -> bool:
    return bool(_SECRET_KEY.search(name))


def redact_text(text: str) -> str:
    """`text` with token-looking strings (JWTs, instance tokens, bearer credentials) replaced."""
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(value):
    """`value` with secret-looking keys' values and token-looking strings replaced."""
    if isinstance(value, dict):
        return {redact(str(k)): REDACTED if secret_key(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        # Lone surrogates and NUL (both valid in JSON text) are refused by PostgreSQL's jsonb.
        value = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
        return redact_text(value)
    return value
