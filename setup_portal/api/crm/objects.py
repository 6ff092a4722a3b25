"""The instance's tables: `GET objects`, `POST objects/refresh`, `GET objects/<name>/metadata`."""

from __future__ import annotations

from rest_framework.response import Response

from setup_portal.crm.resources import RESOURCES
from setup_portal.crm.tables import describe_field

from . import metadata
from .resolve import resolve
from .views import CrmView


class ObjectsView(CrmView):
    http_method_names = ["get", "options"]
    call_label = "objects"

    def get(self, request):
        catalogue = metadata.catalogue(request._request, request.auth)
        aliases = {r.entity_set: name for name, r in RESOURCES.items()}
        objects = [{**t.summary(), "alias": aliases.get(t.entity_set)} for t in catalogue.tables]
        return Response({"objects": objects, "fetchedAt": metadata.fetched_at(request.auth)})


class ObjectsRefreshView(CrmView):
    http_method_names = ["post", "options"]
    call_label = "objects/refresh"

    def post(self, request):
        catalogue = metadata.refresh(request._request, request.auth)
        return Response({"objects": len(catalogue.tables), "fetchedAt": metadata.fetched_at(request.auth)})


class ObjectMetadataView(CrmView):
    http_method_names = ["get", "options"]
    call_label = "objects/{name}/metadata"

    def get(self, request, name: str):
        resource, _ = resolve(request._request, request.auth, name, lambda r: None)
        if resource is RESOURCES.get(name):  # the friendly fields alone: describe them with the table's metadata
            resource = metadata.catalogue(request._request, request.auth).resource(name)
        table = metadata.catalogue(request._request, request.auth).table(name)
        summary = table.summary() if table else {"name": resource.name, "entitySet": resource.entity_set}
        return Response({**summary, "alias": name if name in RESOURCES else None, "writable": resource.writable,
                         "fields": [describe_field(f) for f in resource.fields]})
