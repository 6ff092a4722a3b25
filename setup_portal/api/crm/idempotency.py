"""Idempotency-Key on POST: the first answer is stored and replayed for KEEP_FOR.

The key is reserved (a row with status 0) before Dataverse is called, so two requests
racing with one key cannot both create a record: the second is told to retry shortly.
Answers a repeat could change (429, 5xx, a call that never reached an answer) are not kept,
so the client's retry really runs again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from setup_portal.instances.models import Instance

from ..models import IdempotentResponse
from ..problems import PROBLEM_CONTENT_TYPE, Problem

KEEP_FOR = timedelta(hours=24)
HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "ETag", "OData-EntityId", "Preference-Applied")


def key_of(request) -> str | None:
    key = request.META.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise Problem(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
                      errors={"Idempotency-Key": ["Not a valid key."]})
    return key


def fingerprint(request, body) -> str:
    canonical = json.dumps([request.method, request.path, sorted(request.GET.lists()), body],
                           sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def begin(instance: Instance, key: str, print_: str) -> IdempotentResponse | None:
    """None when this request holds the key now; the stored answer when it is a repeat."""
    IdempotentResponse.objects.filter(instance=instance, key=key,
                                      created_at__lt=timezone.now() - KEEP_FOR).delete()
    try:
        with transaction.atomic():
            IdempotentResponse.objects.create(instance=instance, key=key, fingerprint=print_)
        return None
    except IntegrityError:
        pass
    stored = IdempotentResponse.objects.filter(instance=instance, key=key).first()
    if stored is None:  # the holder gave the key up just now: the caller's retry will take it
        raise Problem(409, "A request with this Idempotency-Key has just failed; send it again.",
                      slug="idempotency-key-in-use", headers={"Retry-After": "1"})
    if stored.fingerprint != print_:
        raise Problem(422, "This Idempotency-Key was used for a different request in the last 24 hours. "
                      "Use a new key for a new request.", slug="idempotency-key-reused",
                      errors={"Idempotency-Key": ["Already used with another body."]})
    if stored.status == 0:
        raise Problem(409, "The first request with this Idempotency-Key is still running; send it again shortly.",
                      slug="idempotency-key-in-use", headers={"Retry-After": "1"})
    return stored


def finish(instance: Instance, key: str, response: HttpResponse) -> None:
    status = response.status_code
    query = IdempotentResponse.objects.filter(instance=instance, key=key, status=0)
    if status == 429 or status >= 500:
        query.delete()
        return
    headers = {name: response[name] for name in (*REPLAYED_HEADERS, "Content-Type") if response.has_header(name)}
    query.update(status=status, body=response.content.decode("utf-8", "replace"), headers=headers)


def abandon(instance: Instance, key: str) -> None:
    IdempotentResponse.objects.filter(instance=instance, key=key, status=0).delete()


def replay(stored: IdempotentResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status,
                            content_type=stored.headers.get("Content-Type", PROBLEM_CONTENT_TYPE))
    for name in REPLAYED_HEADERS:
        if name in stored.headers:
            response[name] = stored.headers[name]
    response["Idempotent-Replayed"] = "true"
    return response
