"""Log lines as JSON (LOG_FORMAT=json), one object a line, or the human-readable default.

Either way each record carries the ids of its request, user, instance, job and task
(context.py). Messages are the portal's own: code that logs never passes a secret (secrets
are typed so their repr is masked, api/crm/calllog.py redacts bodies), and this formatter runs the
same redaction over the message as a last guard against a token pasted into an error text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from setup_portal.redaction import redact_text

from . import context


class ContextFilter(logging.Filter):
    """Puts the current ids on every record (a handler's filter: it sees records of every logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = context.current()
        for name in context.FIELDS:
            setattr(record, name, ids.get(name, ""))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"timestamp": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": redact_text(record.getMessage())}
        for name in context.FIELDS:
            value = getattr(record, name, "")
            if value:
                line[name] = value
        if record.exc_info:
            line["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The default: `time level logger message`, then the ids that are set, as key=value."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{name}={value}" for name in context.FIELDS if (value := getattr(record, name, "")))
        return f"{text} [{ids}]" if ids else text
