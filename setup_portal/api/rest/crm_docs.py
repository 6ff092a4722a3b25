"""An instance's own CRM API in the portal's Swagger UI: its OpenAPI document (made from the instance's
tables, as /api/v1/crm/openapi.json makes it) for the people who may see the instance, and the page.

The page never holds the instance token: the user enters it in Swagger UI's Authorize, and "Try it
out" calls /api/v1/crm/ with it, as any application would.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from setup_portal.api.crm.openapi_views import instance_document
from setup_portal.api.problems import Problem
from setup_portal.instances.models import Instance

from .base import instance_for
from .docs import SwaggerView, _Served


class InstanceCrmSchema(_Served, APIView):
    @extend_schema(exclude=True)
    def get(self, request, instance_id: str):
        instance = instance_for(request, instance_id)
        if instance.status != Instance.Status.READY:
            raise Problem(409, "The instance is not Ready: its CRM API answers nothing yet.")
        return Response(instance_document(request._request, instance))


class InstanceCrmDocs(SwaggerView):
    title = "CRM API"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        instance = instance_for(request, kwargs["instance_id"])
        self.url = reverse("rest:instance-crm-schema", args=[instance.pk])
        self.title = f"{instance.name}: CRM API"
        return super().get(request, *args, **kwargs)
