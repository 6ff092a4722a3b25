"""`POST <table>/bulk`: up to 1,000 records created or upserted in one call, each record's outcome answered."""

from __future__ import annotations

from rest_framework.response import Response

from setup_portal.crm.bulk import BulkCall, Plan, prepare, read_bulk
from setup_portal.crm.errors import QueryError
from setup_portal.crm.resources import Resource
from setup_portal.crm.tables import Catalogue, Table

from ..problems import Problem
from . import metadata
from .bulk import Sender
from .resolve import query_problem, resolve
from .views import CrmView


def table_of(request, instance, name: str, catalogue: Catalogue | None = None) -> tuple[Table, Resource]:
    """The table `/<name>` writes to and its full description (every column, the friendly names too)."""
    resolve(request, instance, name, lambda r: None)  # an unknown name: refreshed once, then a 404
    catalogue = catalogue or metadata.catalogue(request, instance)
    table = catalogue.table(name)
    if table is None:
        raise Problem(404, f"There is no table '{name[:40]}' in this instance's environment. GET objects lists them.",
                      slug="unknown-resource")
    return table, catalogue.resource(name)


class BulkView(CrmView):
    http_method_names = ["post", "options"]

    def initial(self, request, *args, **kwargs):
        self.call_label = f"{kwargs['resource'][:35]}/bulk"
        super().initial(request, *args, **kwargs)

    def post(self, request, resource: str):
        table, res = table_of(request._request, request.auth, resource)
        self.call_label = f"{res.name[:35]}/bulk"
        if not res.writable:
            self.read_only = True
            raise Problem(405, f"{res.name} are read-only: write them through their own table.")
        return self.idempotent(request, lambda: self._write(request, resource, table, res))

    def _write(self, request, name: str, table: Table, res: Resource) -> Response:
        data = self.body(request)
        call, plan = _checked(data, res)
        if plan.unknown_names:  # a column the stored metadata lacks: read it again (at most once a minute)
            fresh = metadata.refresh_for_unknown(request._request, request.auth)
            if fresh is not None:
                table, res = table_of(request._request, request.auth, name, fresh)
                call, plan = _checked(data, res)
        if not plan.pending and all(o.status == 400 for o in plan.refused):
            # Nothing can be sent: the call as a whole is bad input, not a partial success.
            raise Problem(400, f"None of the {len(plan.refused)} records can be written; each one's problem is in "
                               "results.", slug="invalid-records",
                          extra={"results": [o.as_json() for o in plan.refused]})
        sender = Sender(request._request, request.auth, table, res)
        outcomes = sender.write(call, plan)
        succeeded = sum(1 for o in outcomes if o.status < 400)
        return Response({
            "table": table.logical_name, "mode": call.mode, "key": call.key.name if call.key else None,
            "total": len(outcomes), "succeeded": succeeded, "failed": len(outcomes) - succeeded,
            "sentAs": sorted(sender.sent_as), "requests": sender.requests,
            "results": [o.as_json() for o in outcomes],
        })


def _checked(data, res: Resource) -> tuple[BulkCall, Plan]:
    try:
        call = read_bulk(data, res)
    except QueryError as exc:
        raise query_problem(exc) from None
    return call, prepare(call, res)

