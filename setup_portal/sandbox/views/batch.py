"""`POST .../api/data/v9.2/$batch`: several Web API requests in one multipart/mixed body.

Requests outside change sets run one by one; a change set (a nested multipart/mixed) runs in
one store transaction, so one failure rolls all of its writes back. `Content-ID: n` names a
request in a change set, and `$n` in a later request's URL or in an `@odata.bind` value of the
same change set stands for the row it created. Without `Prefer: odata.continue-on-error`
processing stops at the first failure and the batch answers with that failure's status.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
and OData 4.0 part 1, 11.7 Batch Requests.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, QueryDict

from ..data import errors
from ..data.errors import DataverseError
from ..data.service import EnvironmentData
from .records import json_response

MAX_REQUESTS = 1000
API_PREFIX = "/api/data/v9.2/"
REFERENCE = re.compile(r"^\$([A-Za-z0-9_.-]+)")
SYSTEM_SEGMENTS = {"batch", "metadata"}  # `$batch`, `$metadata`: resources, not Content-ID references
# Dataverse's words for a request that names a Content-ID the change set has not declared.
MISSING_REFERENCE = "Content-ID Reference: '${}' does not exist in the batch context."

Answer = Callable[[HttpRequest, str], HttpResponse]


@dataclass
class Part:
    """One request of the batch: its request line, headers and body."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    parts: list[Part] = field(default_factory=list)


@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


def handle(request: HttpRequest, data: EnvironmentData, base: str, answer: Answer, delay_ms: int = 0) -> HttpResponse:
    """The whole batch; `answer` runs one part as if it had come on its own."""
    if request.method != "POST":
        raise DataverseError(405, errors.QUERY_SYNTAX, "The $batch resource accepts only POST.")
    items = parse(request.headers.get("Content-Type", ""), request.body)
    count = sum(len(i.parts) if isinstance(i, ChangeSet) else 1 for i in items)
    if count > MAX_REQUESTS:
        raise DataverseError(400, errors.INVALID_ARGUMENT, (
            f"The batch contains {count} requests, which exceeds the maximum allowed ({MAX_REQUESTS})."))
    continue_on_error = "odata.continue-on-error" in request.headers.get("Prefer", "").lower()
    runner = Runner(data, base, answer, delay_ms)
    out: list[Result | list[Result]] = []
    status = 200
    for item in items:
        results = runner.change_set(item) if isinstance(item, ChangeSet) else runner.single(item, {})
        failed = isinstance(results, Result) and results.status >= 400
        out.append(results)
        if failed and not continue_on_error:
            status = results.status
            break
    boundary = f"batchresponse_{uuid.uuid4()}"
    response = HttpResponse(render(out, boundary), status=status)
    response["Content-Type"] = f"multipart/mixed; boundary={boundary}"
    response["OData-Version"] = "4.0"
    if continue_on_error:
        response["Preference-Applied"] = "odata.continue-on-error"
    return response


class Runner:
    def __init__(self, data: EnvironmentData, base: str, answer: Answer, delay_ms: int):
        self.data = data
        self.base = base
        self.answer = answer
        self.delay_ms = delay_ms

    def single(self, part: Part, references: dict[str, str]) -> Result:
        try:
            path, query = self._resolve(part.target, references)
            body = _substitute(part.body, references)
            if self.delay_ms:  # the limits' test knob: every request of a batch takes that long
                time.sleep(self.delay_ms / 1000)
            response = self.answer(_sub_request(part, query, body), path)
        except DataverseError as exc:
            response = json_response(exc.body(), exc.status, exc.headers)
        return _result(response, part.content_id)

    def change_set(self, change_set: ChangeSet) -> list[Result] | Result:
        """All or nothing: the first failure rolls back the transaction and is the only answer."""
        references: dict[str, str] = {}
        results: list[Result] = []
        failure: Result | None = None
        try:
            with self.data.store.transaction():
                for part in change_set.parts:
                    result = self.single(part, references)
                    if result.status >= 400:
                        failure = result
                        raise _RollBack
                    results.append(result)
                    entity = dict((k.lower(), v) for k, v in result.headers).get("odata-entityid")
                    if part.content_id and entity:
                        references[part.content_id] = entity
        except _RollBack:
            return failure  # type: ignore[return-value]
        return results

    def _resolve(self, target: str, references: dict[str, str]) -> tuple[str, str]:
        """A part's URL as the path under the service root and its query string."""
        reference = REFERENCE.match(target)
        if reference and reference.group(1) not in SYSTEM_SEGMENTS:
            name = reference.group(1)
            if name not in references:
                raise errors.bad_query(MISSING_REFERENCE.format(name))
            target = references[name] + target[reference.end():]
        parts = urlsplit(target)
        path = parts.path
        service_root = urlsplit(self.base).path + "/"
        if parts.scheme and parts.netloc and f"{parts.scheme}://{parts.netloc}" != _origin(self.base):
            raise errors.bad_query(f"The request URL '{target[:200]}' is not in this environment.")
        if path.startswith(service_root):
            path = path[len(service_root):]
        elif path.startswith(API_PREFIX):  # relative to the organization URI, as Dataverse's examples write it
            path = path[len(API_PREFIX):]
        elif path.startswith("/") or parts.scheme:
            raise errors.bad_query(f"The request URL '{target[:200]}' is not in this environment's Web API.")
        if path.rstrip("/") == "$batch":
            raise errors.bad_query("A batch request can't contain other batch requests.")
        return path, parts.query


class _RollBack(Exception):
    """Leaves a change set's transaction after a failed request."""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _substitute(body: bytes, references: dict[str, str]) -> bytes:
    """`"x@odata.bind": "$1"` becomes the URL of the row request 1 created."""
    if b"$" not in body:
        return body
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body  # the part's own handler answers the malformed body
    if not isinstance(document, dict):
        return body
    for key, value in document.items():
        if (key.endswith("@odata.bind") or key == "@odata.id") and isinstance(value, str):
            reference = REFERENCE.match(value)
            if reference and reference.end() == len(value):
                if reference.group(1) not in references:
                    raise errors.bad_query(MISSING_REFERENCE.format(reference.group(1)))
                document[key] = references[reference.group(1)]
    return json.dumps(document).encode()


def _sub_request(part: Part, query: str, body: bytes) -> HttpRequest:
    request = HttpRequest()
    request.method = part.method
    for name, value in part.headers.items():
        key = name.upper().replace("-", "_")
        request.META[key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{key}"] = value
    request.META["CONTENT_LENGTH"] = str(len(body))
    request.GET = QueryDict(query)
    request._body = body  # what request.body returns; a part has no stream of its own
    return request


def _result(response: HttpResponse, content_id: str | None) -> Result:
    headers = [(name, value) for name, value in response.items() if name.lower() != "content-length"]
    entity = response.get("OData-EntityId")
    if entity and response.status_code == 204 and not response.has_header("Location"):
        headers.insert(0, ("Location", entity))  # Dataverse's batch answers carry both
    return Result(response.status_code, headers, response.content, content_id)


# --- multipart/mixed ---------------------------------------------------------------------------
def _boundary(content_type: str) -> str:
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.IGNORECASE)
    if not content_type.lower().startswith("multipart/mixed") or not match:
        raise errors.bad_query("A $batch request needs Content-Type: multipart/mixed with a boundary.")
    return match.group(1) or match.group(2)


def _split(body: bytes, boundary: str) -> list[bytes]:
    """The body parts between `--boundary` lines, up to the closing `--boundary--`."""
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?=\r?\n|$)")
    parts: list[bytes] = []
    start = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start:match.start()])
        if match.group(1):
            return parts
        start = match.end()
    raise errors.bad_query(f"The batch body does not end with the closing delimiter '--{boundary}--'.")


def _read_headers(data: bytes) -> tuple[dict[str, str], bytes]:
    """`Name: value` lines up to the first empty line, and what follows it."""
    headers: dict[str, str] = {}
    position = 0
    while position < len(data):
        end = data.find(b"\n", position)
        line = data[position:] if end == -1 else data[position:end]
        position = len(data) if end == -1 else end + 1
        text = line.decode("utf-8", "replace").strip()
        if not text:
            break
        name, colon, value = text.partition(":")
        if not colon:
            raise errors.bad_query(f"The batch part header line '{text[:100]}' is not 'Name: value'.")
        headers[name.strip().lower()] = value.strip()
    return headers, data[position:]


def _mime_part(chunk: bytes) -> tuple[dict[str, str], bytes]:
    return _read_headers(re.sub(rb"^\r?\n", b"", chunk, count=1))


def _http_part(headers: dict[str, str], payload: bytes) -> Part:
    if not headers.get("content-type", "").lower().startswith("application/http"):
        raise errors.bad_query("Each batch request part needs Content-Type: application/http.")
    payload = re.sub(rb"^(\r?\n)+", b"", payload)
    line, _, rest = payload.partition(b"\n")
    words = line.decode("utf-8", "replace").strip().split()
    if len(words) not in (2, 3) or words[0] not in {"GET", "POST", "PATCH", "PUT", "DELETE"}:
        raise errors.bad_query(f"The batch part's request line '{line[:200].decode('utf-8', 'replace')}' is not "
                               "'METHOD URL HTTP/1.1'.")
    inner_headers, body = _read_headers(rest)
    return Part(words[0], words[1], inner_headers, body.rstrip(b"\r\n"), headers.get("content-id"))


def parse(content_type: str, body: bytes) -> list[Part | ChangeSet]:
    items: list[Part | ChangeSet] = []
    for chunk in _split(body, _boundary(content_type)):
        headers, payload = _mime_part(chunk)
        if headers.get("content-type", "").lower().startswith("multipart/mixed"):
            change_set = ChangeSet()
            seen: set[str] = set()
            for inner in _split(payload, _boundary(headers["content-type"])):
                part = _http_part(*_mime_part(inner))
                if part.method == "GET":
                    raise errors.bad_query("GET requests are not allowed within change sets.")
                if part.content_id in seen:
                    raise errors.bad_query(f"The Content-ID '{part.content_id}' is used twice in one change set.")
                if part.content_id:
                    seen.add(part.content_id)
                change_set.parts.append(part)
            items.append(change_set)
        else:
            items.append(_http_part(headers, payload))
    return items


def _http_block(result: Result) -> bytes:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if result.content_id:
        lines.append(f"Content-ID: {result.content_id}")
    reason = HttpResponse(status=result.status).reason_phrase
    lines += ["", f"HTTP/1.1 {result.status} {reason}", *(f"{n}: {v}" for n, v in result.headers), "", ""]
    return "\r\n".join(lines).encode() + result.body + b"\r\n"


def render(out: list[Result | list[Result]], boundary: str) -> bytes:
    """Dataverse's answer: `batchresponse_` parts, a change set's as a nested `changesetresponse_`."""
    chunks: list[bytes] = []
    for item in out:
        chunks.append(f"--{boundary}\r\n".encode())
        if isinstance(item, Result):
            chunks.append(_http_block(item))
            continue
        inner = f"changesetresponse_{uuid.uuid4()}"
        chunks.append(f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode())
        for result in item:
            chunks.append(f"--{inner}\r\n".encode() + _http_block(result))
        chunks.append(f"--{inner}--\r\n".encode())
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)
