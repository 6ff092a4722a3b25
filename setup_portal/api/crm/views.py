"""The instance API: /api/v1/crm/<resource>[/<id>] and /api/v1/crm/raw/<path>.

Applications call it with their instance token (no session, no CSRF: DRF's APIView is
csrf-exempt and only InstanceTokenAuthentication runs). Each view checks the request, hands
it to gateway.call(), and turns Dataverse's answer into plain JSON records. Every call is
rate-limited per instance and recorded in the call log.
"""

from __future__ import annotations

import math
import time

from django.http import HttpResponse
from django.urls import reverse
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from setup_portal.crm.cursor import NextPage, make_cursor, read_cursor
from setup_portal.crm.errors import QueryError
from setup_portal.crm.query import build_list_query, parse_fields, select_option
from setup_portal.crm.resources import RESOURCES, Resource, to_dataverse, to_record

from .. import ratelimit
from ..parsers import JSONBodyParser
from ..problems import Problem, exception_handler, problem_response
from ..renderers import AsciiJSONRenderer
from . import calllog, gateway, idempotency
from .authentication import HasInstanceToken, InstanceTokenAuthentication, authenticated_instance
from .rawpath import RawPathError, raw_target, rewrite_links, without_nulls
from .resolve import resolve

LIST_PARAMS = ("where", "fields", "orderBy", "pageSize", "nextPage")
RETURN_ROW = "return=representation"


_RENDERER = AsciiJSONRenderer()  # holds no state between calls
_PLAIN_ACCEPT = frozenset({"*/*", "application/json"})


def _one_answer_type(request) -> bool:
    """No Accept header, */* or application/json, and no ?format=: the answer is JSON without negotiating."""
    return request.META.get("HTTP_ACCEPT", "*/*") in _PLAIN_ACCEPT and "format" not in request.GET


class CrmView(APIView):
    authentication_classes = [InstanceTokenAuthentication]
    permission_classes = [HasInstanceToken]
    renderer_classes = [AsciiJSONRenderer]
    parser_classes = [JSONBodyParser]
    throttle_classes: list = []
    call_label = ""

    def get_exception_handler(self):
        return exception_handler

    def perform_content_negotiation(self, request, force=False):
        # What nearly every caller sends (no Accept, */* or application/json, no ?format=) has one
        # answer; DRF's negotiation would parse and rank the header on every call to find it.
        if _one_answer_type(request._request):
            return _RENDERER, AsciiJSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "OPTIONS" and "resource" in kwargs:
            # OPTIONS names the methods this table allows (a read-only table reads only), a 429 included.
            res, _ = resolve(request._request, request.auth, kwargs["resource"], lambda r: None)
            self.read_only = not res.writable
        _spend_allowance(request.auth)

    def dispatch(self, request, *args, **kwargs):
        started = time.perf_counter()
        try:
            if request.method == "GET" and hasattr(self, "plain_get") and _one_answer_type(request):
                response = self._without_drf(request, *args, **kwargs)
            else:
                response = super().dispatch(request, *args, **kwargs)
        except BaseException:
            self._abandon_key(request)
            raise
        if getattr(self, "read_only", False):
            # DRF would list the methods of every resource the view serves; a read-only table reads only.
            response["Allow"] = ", ".join(m for m in self.allowed_methods if m in ("GET", "OPTIONS"))
        instance = getattr(request, "crm_instance", None)
        if instance is None:
            return response
        if not getattr(response, "is_rendered", True):
            response.render()
        key = getattr(request, "crm_idempotency_key", None)
        if key is not None:
            idempotency.finish(instance, key, response)
        trace = None
        if calllog.tracing(instance):
            trace = calllog.trace_of(request, getattr(request, "crm_body", None), response)
        calllog.record_after_sending(
            response, instance, method=request.method, resource=self.call_label or "?",
            status=response.status_code, latency_ms=round((time.perf_counter() - started) * 1000),
            upstream=getattr(request, "crm_upstream", None), caller=calllog.caller_ip(request), trace=trace)
        return response

    def _without_drf(self, request, *args, **kwargs) -> HttpResponse:
        """A GET answered as DRF would (the same checks in the same order, errors through the same
        handler and renderer), without its request wrapper, negotiation and response machinery,
        which cost about a tenth of the hot list call's CPU."""
        self.args, self.kwargs, self.request = args, kwargs, request
        try:
            instance = authenticated_instance(request)
            if instance is None:
                raise NotAuthenticated()
            _spend_allowance(instance)
            response = HttpResponse(_RENDERER.render(self.plain_get(request, instance, *args, **kwargs)),
                                    content_type=AsciiJSONRenderer.media_type)
        except Exception as exc:  # noqa: BLE001 - the API's handler answers everything, a bug as a logged 500
            response = exception_handler(exc, {"request": request, "view": self})
            response.accepted_renderer, response.accepted_media_type = _RENDERER, AsciiJSONRenderer.media_type
            response.renderer_context = {"request": request, "view": self}
            response.render()
        response["Allow"] = ", ".join(self.allowed_methods)
        return response

    def _abandon_key(self, request) -> None:
        key = getattr(request, "crm_idempotency_key", None)
        if key is not None:
            idempotency.abandon(request.crm_instance, key)

    def body(self, request):
        data = request.data
        request._request.crm_body = data
        return data

    def idempotent(self, request, handler) -> HttpResponse:
        """Run `handler` once per Idempotency-Key (when the POST has one)."""
        key = idempotency.key_of(request._request)
        if key is None:
            return handler()
        stored = idempotency.begin(request.auth, key, idempotency.fingerprint(request._request, self.body(request)))
        if stored is not None:
            return idempotency.replay(stored)
        request._request.crm_idempotency_key = key
        return handler()


def _spend_allowance(instance) -> None:
    wait = ratelimit.take(instance.pk)
    if wait is not None:
        raise Problem(429, "This instance has used up its allowance of calls for the moment.",
                      slug="rate-limited", code="portal_rate_limit",
                      headers={"Retry-After": str(max(1, math.ceil(wait)))})


def _page_of(cursor: str, instance, resource: Resource) -> NextPage:
    """The cursor's next page, if `resource` has every column it selects (a friendly resource's own
    fields may not: the cursor was then made with its table's metadata)."""
    page = read_cursor(cursor, instance_id=instance.pk, resource=resource)
    columns = set(resource.columns)
    missing = [c for c in page.params.get("$select", "").split(",") if c and c not in columns]
    if missing:
        raise QueryError(f"nextPage selects {missing[0]}, which {resource.name} lacks.", param="nextPage",
                         known=resource.field_names)
    return page


def _record_url(request, name: str, record_id) -> str:
    """The record's URL under the name the caller used (`cr8a2_projects` or `cr8a2_project`)."""
    return request.build_absolute_uri(reverse("crm_api:record", args=[name, record_id]))


class CollectionView(CrmView):
    http_method_names = ["get", "post", "options"]

    def get(self, request, resource: str):
        return Response(self.plain_get(request._request, request.auth, resource))

    def plain_get(self, request, instance, resource: str) -> dict:
        """A page of records for the (Django) request: `{"records": [...], "nextPage": ...}`."""
        unknown = sorted(set(request.GET) - set(LIST_PARAMS))
        if unknown:
            raise Problem(400, f"Unknown query parameter {unknown[0][:40]!r}. Parameters: {', '.join(LIST_PARAMS)}.",
                          slug="invalid-query", errors={unknown[0][:40]: ["Not a parameter of this list."]})
        if "nextPage" in request.GET:
            res, page = resolve(request, instance, resource, lambda r: _page_of(request.GET["nextPage"], instance, r))
            params, prefer, page_size = page.params, page.prefer, page.page_size
        else:
            res, query = resolve(request, instance, resource, lambda r: build_list_query(
                r, where=request.GET.get("where"), fields=request.GET.get("fields"),
                order_by=request.GET.get("orderBy"), page_size=request.GET.get("pageSize")))
            params, prefer, page_size = query.params, query.prefer, query.page_size
        self.call_label = res.name
        outcome = gateway.call(request, instance, "GET", res.entity_set, params=params, headers={"Prefer": prefer})
        data = gateway.json_of(outcome.response)
        if not isinstance(data, dict) or not isinstance(data.get("value", []), list):
            raise Problem(502, "Dynamics CRM answered with a list the API cannot read.", code="bad_response")
        records = [to_record(row, res, drop_nulls=instance.filter_nulls) for row in data.get("value", [])]
        try:
            link = data.get("@odata.nextLink")
            cursor = make_cursor(link, instance_id=instance.pk, resource=res, page_size=page_size) if link else None
        except (ValueError, AttributeError):
            raise Problem(502, "Dynamics CRM answered with a next page link the API cannot follow.",
                          code="bad_response") from None
        return {"records": records, "nextPage": cursor}

    def post(self, request, resource: str):
        res, _ = resolve(request._request, request.auth, resource, lambda r: None)
        self.call_label = res.name
        if not res.writable:
            self.read_only = True
            raise Problem(405, f"{res.name} are read-only: create them through their own resource (tasks).")

        def create() -> Response:
            data = self.body(request)
            res, body = resolve(request._request, request.auth, resource,
                                lambda r: to_dataverse(data, r, creating=True))
            outcome = gateway.call(request._request, request.auth, "POST", res.entity_set, body=body,
                                   params={"$select": select_option(res)}, headers={"Prefer": RETURN_ROW})
            record = to_record(gateway.json_of(outcome.response), res, drop_nulls=request.auth.filter_nulls)
            return Response(record, status=201, headers={"Location": _record_url(request, resource, record["id"])})

        return self.idempotent(request, create)


class RecordView(CrmView):
    http_method_names = ["get", "patch", "delete", "options"]

    def initial(self, request, *args, **kwargs):
        self.call_label = f"{kwargs['resource'][:35]}/{{id}}"
        super().initial(request, *args, **kwargs)

    def _resolve(self, request, name: str, work):
        res, done = resolve(request._request, request.auth, name, work)
        self.call_label = f"{res.name[:35]}/{{id}}"
        return res, done

    def _writable(self, res: Resource) -> None:
        if not res.writable:
            self.read_only = True
            raise Problem(405, f"{res.name} are read-only: change them through their own resource (tasks).")

    def _select(self, request, res: Resource) -> dict:
        fields = parse_fields(request.GET["fields"], res) if "fields" in request.GET else None
        return {"$select": select_option(res, fields)}

    def get(self, request, resource: str, record_id):
        res, select = self._resolve(request, resource, lambda r: self._select(request, r))
        outcome = gateway.call(request._request, request.auth, "GET", f"{res.entity_set}({record_id})",
                               params=select)
        return Response(to_record(gateway.json_of(outcome.response), res, drop_nulls=request.auth.filter_nulls))

    def patch(self, request, resource: str, record_id):
        res, _ = self._resolve(request, resource, lambda r: None)
        self._writable(res)
        data = self.body(request)
        res, (body, select) = self._resolve(request, resource, lambda r: (
            to_dataverse(data, r, creating=False), self._select(request, r)))
        # Dataverse's PATCH is an upsert; `If-Match: *` keeps an update of a missing record a 404.
        headers = {"Prefer": RETURN_ROW, "If-Match": request.headers.get("If-Match", "*")}
        outcome = gateway.call(request._request, request.auth, "PATCH", f"{res.entity_set}({record_id})",
                               body=body, params=select, headers=headers)
        return Response(to_record(gateway.json_of(outcome.response), res, drop_nulls=request.auth.filter_nulls))

    def delete(self, request, resource: str, record_id):
        res, _ = self._resolve(request, resource, lambda r: None)
        self._writable(res)
        headers = {"If-Match": request.headers["If-Match"]} if "If-Match" in request.headers else {}
        gateway.call(request._request, request.auth, "DELETE", f"{res.entity_set}({record_id})", headers=headers)
        return Response(status=204)


# Request headers a raw call passes on, and answer headers it passes back.
RAW_REQUEST_HEADERS = ("Prefer", "If-Match", "If-None-Match", "MSCRM.SuppressDuplicateDetection")
RAW_RESPONSE_HEADERS = ("ETag", "Preference-Applied", "OData-Version")


class RawView(CrmView):
    """The instance's Dataverse Web API itself, for tables the resources do not cover."""

    http_method_names = ["get", "post", "patch", "delete", "options"]
    call_label = "raw"

    def _call(self, request, path: str) -> HttpResponse:
        instance = request.auth
        base = gateway.web_api_base(instance)
        try:
            relative = raw_target(base, path)
        except RawPathError as exc:
            raise Problem(400, str(exc), slug="invalid-raw-path", errors={"path": [str(exc)]}) from None
        params = [(name, value) for name, values in request.GET.lists() for value in values]
        body = self.body(request) if request.method in ("POST", "PATCH") else None
        headers = {name: request.headers[name] for name in RAW_REQUEST_HEADERS if name in request.headers}
        outcome = gateway.call(request._request, instance, request.method, relative, params=params or None,
                               body=body, headers=headers)
        upstream = outcome.response
        root = gateway.raw_root(request._request)
        if upstream.status_code == 204 or not upstream.content:
            response = HttpResponse(status=upstream.status_code)
        elif upstream.headers.get("Content-Type", "").startswith("application/json"):
            data = rewrite_links(gateway.json_of(upstream), base, root)
            response = Response(without_nulls(data) if instance.filter_nulls else data, status=upstream.status_code)
        else:
            response = HttpResponse(upstream.content, status=upstream.status_code,
                                    content_type=upstream.headers.get("Content-Type", "text/plain"))
        for name in RAW_RESPONSE_HEADERS:
            if name in upstream.headers:
                response[name] = upstream.headers[name]
        if "OData-EntityId" in upstream.headers:
            response["OData-EntityId"] = rewrite_links(upstream.headers["OData-EntityId"], base, root)
        return response

    def get(self, request, path: str):
        return self._call(request, path)

    def post(self, request, path: str):
        return self.idempotent(request, lambda: self._call(request, path))

    def patch(self, request, path: str):
        return self._call(request, path)

    def delete(self, request, path: str):
        return self._call(request, path)


def not_found(request, *args, **kwargs) -> HttpResponse:
    """Anything else under /api/v1/crm/: a problem, not the portal's HTML 404 page."""
    return problem_response(Problem(404, f"Nothing here. Resources: {', '.join(RESOURCES)}, any table by name "
                                    "(GET objects lists them) (and /<id>), and raw/.", slug="not-found"), request.path)
