"""`GET openapi.json`: this instance's API as an OpenAPI 3.1 document, made from its environment's tables."""

from __future__ import annotations

from django.urls import reverse
from rest_framework.response import Response

from setup_portal.crm.openapi import document

from . import metadata
from .views import CrmView


def instance_document(request, instance) -> dict:
    """The document for `instance`, its server being this portal's /api/v1/crm/ as the request reached it."""
    server = request.build_absolute_uri(reverse("crm_api:raw", kwargs={"path": ""})).removesuffix("raw/").rstrip("/")
    return document(metadata.catalogue(request, instance), server, title=f"{instance.name}: CRM API")


class OpenApiView(CrmView):
    http_method_names = ["get", "options"]
    call_label = "openapi.json"

    def get(self, request):
        return Response(instance_document(request._request, request.auth))
