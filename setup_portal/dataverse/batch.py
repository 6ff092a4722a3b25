"""The Web API's `$batch` wire format: requests as a multipart/mixed body, answers read back.

`encode()` writes requests (and change sets, whose requests Dataverse runs in one transaction)
as the body of `POST [Organization URI]/api/data/v9.2/$batch`; `decode()` reads the
multipart/mixed answer with the standard library's MIME parser into one `Answer` per request, a
change set's as a list (or the single answer of the request that failed it).

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import uuid
from dataclasses import dataclass, field

from setup_portal.text import GUID_TEXT

MAX_REQUESTS = 1000  # Dataverse refuses a batch with more requests than this (change sets' counted)
_ENTITY_ID = re.compile(rf"\(({GUID_TEXT})\)$")


class BatchFormatError(ValueError):
    """Dataverse's answer was not the multipart/mixed the batch expects."""


@dataclass(frozen=True)
class Request:
    """One request of a batch. `url` is absolute (the organization's Web API URL + the path) or `$n`."""

    method: str
    url: str
    body: dict | None = None
    content_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeSet:
    requests: tuple[Request, ...]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None

    def json(self) -> object:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def error(self) -> tuple[str, str]:
        """Dataverse's error code and message, or empty strings."""
        data = self.json()
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return "", ""
        return str(error.get("code") or ""), str(error.get("message") or "")[:1000]

    @property
    def entity_id(self) -> str | None:
        """The id of the row a create or upsert wrote, from its `OData-EntityId` (or `Location`)."""
        link = self.headers.get("odata-entityid") or self.headers.get("location") or ""
        match = _ENTITY_ID.search(link.strip())
        return match.group(1).lower() if match else None


def _http_part(request: Request) -> list[str]:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if request.content_id:
        lines.append(f"Content-ID: {request.content_id}")
    lines += ["", f"{request.method} {request.url} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    if request.body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(request.body, allow_nan=False)]
    else:
        lines += [""]
    return lines


def encode(items: list[Request | ChangeSet]) -> tuple[str, bytes]:
    """(Content-Type, body) of a batch of requests and change sets, in order."""
    boundary = f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    for item in items:
        lines.append(f"--{boundary}")
        if isinstance(item, Request):
            lines += _http_part(item)
            continue
        inner = f"changeset_{uuid.uuid4()}"
        lines += [f"Content-Type: multipart/mixed; boundary={inner}", ""]
        for request in item.requests:
            lines.append(f"--{inner}")
            lines += _http_part(request)
        lines.append(f"--{inner}--")
    lines += [f"--{boundary}--", ""]
    return f"multipart/mixed; boundary={boundary}", "\r\n".join(lines).encode("utf-8")


def _answer(part) -> Answer:
    payload = re.sub(rb"^(\r?\n)+", b"", part.get_payload(decode=True) or b"")
    blank = re.search(rb"\r?\n\r?\n", payload)
    head, body = (payload[:blank.start()], payload[blank.end():]) if blank else (payload, b"")
    lines = head.decode("utf-8", "replace").splitlines()
    words = lines[0].split(" ", 2) if lines else []
    if len(words) < 2 or not words[0].startswith("HTTP/") or not (words[1].isascii() and words[1].isdigit()):
        raise BatchFormatError("A batch answer part has no HTTP status line.")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return Answer(int(words[1]), headers, body.rstrip(b"\r\n"), part.get("Content-ID"))


def decode(content_type: str, body: bytes) -> list[Answer | list[Answer]]:
    """The answers of a batch, in order; a change set's as a list."""
    if not content_type.lower().startswith("multipart/mixed"):
        raise BatchFormatError(f"The batch answer is {content_type[:60] or 'untyped'}, not multipart/mixed.")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace") + body)
    if not message.is_multipart():
        raise BatchFormatError("The batch answer has no parts.")
    out: list[Answer | list[Answer]] = []
    for part in message.iter_parts():
        if part.is_multipart():
            out.append([_answer(inner) for inner in part.iter_parts()])
        else:
            out.append(_answer(part))
    return out
