"""The webhook inspector: bins that receive the portal's webhook deliveries (see ../webhooks.py).

POST /_sandbox/webhooks/{bin}         a delivery: recorded, verified, answered 200 (or as told to fail)
GET  /_sandbox/webhooks/{bin}         the page listing what arrived (JSON with ?format=json or Accept: application/json)
DELETE /_sandbox/webhooks/{bin}       forget the bin
POST /_sandbox/webhooks/{bin}/config  {"secret"|"secrets", "fail": "500"|"timeout"|null, "times": n, "delay_ms": n}
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from ..webhooks import BIN_NAME, parse_config
from .common import current, page

SHOWN = 200  # deliveries listed on the page


def _bad(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _wants_json(request: HttpRequest) -> bool:
    return request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", "")


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def webhook_bin(request: HttpRequest, name: str) -> HttpResponse:
    if not BIN_NAME.fullmatch(name):
        return _bad("a bin name is 1-64 letters, digits, - or _", 404)
    bins = current().webhooks
    if request.method == "POST":
        headers = {k.lower(): v for k, v in request.headers.items()}
        item = bins.receive(name, request.body, headers)
        if item.answered == "timeout":
            # Not answering in time is what a stuck receiver does; the portal gives up first.
            time.sleep(bins.get(name).delay_ms / 1000)
            return _bad("the bin was told not to answer in time", 504)
        if item.answered == "500":
            return _bad("the bin was told to fail", 500)
        return JsonResponse({"received": item.webhook_id, "verified": item.verified})
    if request.method == "DELETE":
        bins.clear(name)
        return JsonResponse({"cleared": name})
    found = bins.get(name)
    with bins.lock:
        received = [r.as_dict() for r in found.received]
        config = found.config()
    if _wants_json(request):
        return JsonResponse({"bin": name, "count": found.count, "config": config, "deliveries": received})
    for item in received[:SHOWN]:
        item["when"] = dt.datetime.fromtimestamp(item["at"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        try:
            item["pretty"] = json.dumps(json.loads(item["body"]), indent=2, ensure_ascii=False)
        except ValueError:
            item["pretty"] = item["body"]
    return page("webhooks.html", {"bin": name, "count": found.count, "config": config,
                                  "deliveries": received[:SHOWN], "path": request.path})


@csrf_exempt
@require_POST
def webhook_bin_config(request: HttpRequest, name: str) -> HttpResponse:
    if not BIN_NAME.fullmatch(name):
        return _bad("a bin name is 1-64 letters, digits, - or _", 404)
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        changes = parse_config(body)
    except ValueError as exc:
        return _bad(str(exc))
    found = current().webhooks.configure(name, changes)
    return JsonResponse({"bin": name, "config": found.config()})
