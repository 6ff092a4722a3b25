"""The schema and its two readers, served from the portal itself (drf-spectacular-sidecar, no CDN).

Both pages load their scripts from 'self'. Swagger UI's start-up script is served by the split
view as a file, so the portal's CSP holds unchanged for it. Redoc styles itself by inserting
<style> elements and renders in a blob: worker: that page alone allows inline styles and blob:
workers (still no inline or foreign script).
"""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication

from setup_portal.api.keys import auth as key_auth

from .base import PortalUser, exception_handler


class _Served:
    authentication_classes = [key_auth.ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [PortalUser]

    def get_exception_handler(self):
        return exception_handler


class SchemaView(_Served, SpectacularAPIView):
    pass


class SwaggerView(_Served, SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"


@method_decorator(csp_update({"style-src": [SELF, UNSAFE_INLINE], "worker-src": [SELF, "blob:"]}), name="dispatch")
class RedocView(_Served, SpectacularRedocView):
    template_name = "api/redoc.html"
