"""Problem details (RFC 9457) for every error of the instance API.

An error is raised as `Problem` (or a DRF exception, which the handler translates) and
answered as `application/problem+json` with `type`, `title`, `status`, `detail`, `instance`,
and where they apply `code` (Dataverse's or Azure AD's), `fix` (the catalogue's plain words)
and `errors` (per field, for a request that did not validate).

Reference: https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response

from setup_portal.azure.errors import explain
from setup_portal.observability import context

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types are tag URIs (RFC 4151), as RFC 9457 suggests for types that need not resolve.
TYPE_PREFIX = "tag:dynamics-crm-setup-portal,2026:problem:"
REALM = 'Bearer realm="crm"'

_TITLES = {
    400: "The request is not valid", 401: "An instance token is needed", 403: "Not allowed",
    404: "Not found", 405: "Method not allowed", 406: "Not acceptable", 409: "The instance cannot serve this now",
    412: "The record has changed", 413: "The body is too large", 415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests", 502: "Dynamics CRM answered with an error", 503: "Dynamics CRM is unavailable",
    504: "Dynamics CRM did not answer in time",
}
_SLUGS = {
    400: "invalid-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    406: "not-acceptable", 409: "conflict", 412: "precondition-failed", 413: "too-large", 415: "unsupported-media-type",
    422: "unprocessable", 429: "rate-limited", 502: "bad-gateway", 503: "unavailable", 504: "gateway-timeout",
}


class Problem(exceptions.APIException):
    """An error answered as problem details. `slug` names the problem type; `headers` go on the answer."""

    def __init__(self, status: int, detail: str, *, slug: str | None = None, title: str | None = None,
                 code: str = "", fix: str = "", errors: dict | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(detail)
        self.status_code = status
        self.slug = slug or _SLUGS.get(status, "error")
        self.title = title or _TITLES.get(status, "Error")
        self.code = code
        self.fix = fix
        self.errors = errors or {}
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self, instance: str) -> dict:
        data = {"type": TYPE_PREFIX + self.slug, "title": self.title, "status": self.status_code,
                "detail": str(self.detail), "instance": instance}
        request_id = context.get("request_id")
        if request_id:  # the same id is in the X-Request-ID header, the log lines and the call log
            data["request_id"] = request_id
        if self.code:
            data["code"] = self.code
        if self.fix:
            data["fix"] = self.fix
        if self.errors:
            data["errors"] = self.errors
        data.update(self.extra)
        return data


def catalogue_fix(code: str) -> str:
    """The catalogue's plain words for `code` ("" when it knows nothing better than its default)."""
    explanation = explain(code)
    if explanation.title == explain("").title:
        return ""
    return f"{explanation.title}. {explanation.what_to_do}".strip()


def problem_response(problem: Problem, instance: str) -> HttpResponse:
    """A plain Django answer (for code outside DRF's views, e.g. URL resolution)."""
    response = HttpResponse(json.dumps(problem.body(instance)), status=problem.status_code,
                            content_type=PROBLEM_CONTENT_TYPE)
    for name, value in problem.headers.items():
        response[name] = value
    return response


def _as_problem(exc: Exception) -> Problem | None:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, Http404):
        return Problem(404, "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return Problem(403, "Not allowed.")
    if isinstance(exc, RequestDataTooBig):  # Django's own 400 for it, were DRF not to catch it first
        return Problem(413, f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.")
    if isinstance(exc, exceptions.NotAuthenticated):
        return Problem(401, "Send the instance token as 'Authorization: Bearer <token>'.",
                       headers={"WWW-Authenticate": REALM})
    if isinstance(exc, exceptions.AuthenticationFailed):
        return Problem(401, str(exc.detail), slug="invalid-token",
                       headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Problem(405, str(exc.detail))
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Problem(415, f"{exc.detail} Send JSON with 'Content-Type: application/json'.")
    if isinstance(exc, exceptions.ParseError):
        return Problem(400, f"The body is not valid JSON: {exc.detail}", slug="invalid-json")
    if isinstance(exc, exceptions.NotAcceptable):
        return Problem(406, "This API answers with JSON only.")
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        return Problem(429, str(exc.detail), headers={"Retry-After": str(wait)})
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"body": exc.detail}
        return Problem(400, "Some values are not valid.", slug="validation", errors=detail)
    if isinstance(exc, exceptions.APIException):
        return Problem(exc.status_code, str(exc.detail))
    return None


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every API error as problem details, a bug too (logged, nothing of it shown)."""
    request = context.get("request")
    problem = _as_problem(exc)
    if problem is None:
        logger.error("Unexpected error in %s", request.path if request is not None else "the API",
                     exc_info=(type(exc), exc, exc.__traceback__))
        problem = Problem(500, "Something went wrong on the portal's side; the error was logged.",
                          slug="internal-error", title="Internal error")
    response = Response(problem.body(request.path if request is not None else ""), status=problem.status_code,
                        headers=problem.headers, content_type=PROBLEM_CONTENT_TYPE)
    response.exception = True
    return response
