"""`POST .../{entity set}/Microsoft.Dynamics.CRM.{CreateMultiple|UpdateMultiple|UpsertMultiple}`:
the bulk operation actions bound to a table (data/multiple.py does the work).

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/createmultiple
(200 with `Ids`), .../updatemultiple and .../upsertmultiple (204).
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse

from ..data import errors, multiple
from ..data.errors import DataverseError
from ..data.schema import Table
from ..data.service import EnvironmentData, Principal
from .records import json_response

NAMESPACE = "Microsoft.Dynamics.CRM."


def handle(request: HttpRequest, data: EnvironmentData, principal: Principal, base: str, table: Table,
           segment: str) -> HttpResponse:
    action = segment[len(NAMESPACE):] if segment.startswith(NAMESPACE) else ""
    if action not in multiple.ACTIONS:
        raise errors.segment_not_found(segment[:100])
    if request.method != "POST":
        raise DataverseError(405, errors.QUERY_SYNTAX, f"The action '{action}' accepts only POST.")
    multiple.refuse_read_only(table, action)
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.bad_query(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_query("The request body must be a JSON object with 'Targets'.")
    if action == "CreateMultiple":
        ids = multiple.create_multiple(data, principal, table, body, base)
        return json_response({"@odata.context": f"{base}/$metadata#{NAMESPACE}CreateMultipleResponse", "Ids": ids})
    if action == "UpdateMultiple":
        multiple.update_multiple(data, principal, table, body, base)
    else:
        multiple.upsert_multiple(data, principal, table, body, base)
    response = HttpResponse(status=204)
    response["OData-Version"] = "4.0"
    return response
