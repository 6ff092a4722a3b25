"""What every management API view shares: who may call it, how errors look, how requests are parsed.

Browsers call with their session (CSRF checked, as DRF's SessionAuthentication does for unsafe
methods); scripts with `Authorization: Bearer <personal API key>`, limited per key. Errors are
problem details (RFC 9457): the API key module's handler, plus the permission module's reasons
for a 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from setup_portal.api.keys import auth as key_auth
from setup_portal.api.parsers import JSONBodyParser
from setup_portal.api.problems import Problem
from setup_portal.api.renderers import AsciiJSONRenderer
from setup_portal.instances import access as instance_access
from setup_portal.instances.models import Instance
from setup_portal.teams import permissions


def flat_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as one level: {"webhooks.callback_url": [...], "tags.2": [...]}."""
    if isinstance(detail, dict):
        items = detail.items()
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        items = ((str(i), item) for i, item in enumerate(detail) if item)
    else:
        return {prefix or "non_field_errors": [str(e) for e in (detail if isinstance(detail, list) else [detail])]}
    flat: dict[str, list[str]] = {}
    for name, value in items:
        flat.update(flat_errors(value, f"{prefix}.{name}" if prefix else str(name)))
    return flat


def exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, exceptions.ValidationError) and not isinstance(exc, Problem):
        exc = Problem(400, "Some values are not valid.", slug="validation", errors=flat_errors(exc.detail))
    elif isinstance(exc, DjangoPermissionDenied):  # permissions.check: say the rule's reason
        exc = Problem(403, str(exc) or permissions.NO_ROLE)
    elif isinstance(exc, exceptions.PermissionDenied):
        exc = Problem(403, str(exc.detail))
    return key_auth.exception_handler(exc, context)


class PortalUser(BasePermission):
    """Signed in (session or key) with a role the pages would let in."""

    message = permissions.NO_ROLE

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()
        return permissions.can_see_portal(request.user)


class ManagementView(APIView):
    authentication_classes = [key_auth.ApiKeyAuthentication, SessionAuthentication]
    throttle_classes = [key_auth.ApiKeyRateThrottle]
    permission_classes = [PortalUser]
    renderer_classes = [AsciiJSONRenderer]
    parser_classes = [JSONBodyParser]

    def get_exception_handler(self):
        return exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.setdefault("Cache-Control", "no-store")  # answers are per person, and some carry tokens
        return response


def instance_for(request, instance_id, allowed=permissions.can_view_instance) -> Instance:
    """The live (not deleted) instance the URL names: 404 when there is none or the caller may not
    see it, 403 with the rule's reason when they may see it but not do `allowed`."""
    rows = Instance.objects.select_related("owner", "reviewed_by").exclude(status=Instance.Status.DELETED)
    return instance_access.instance_for(request.user, instance_id, allowed, rows=rows)


def form_errors(form) -> dict[str, list[str]]:
    """A Django form's errors per field, as problem details carry them ("non_field_errors" for the rest)."""
    return {("non_field_errors" if name == "__all__" else name): [str(e) for e in errs]
            for name, errs in form.errors.items()}


TAKEN = "taken"  # the code of a form error saying another object has this name already


def invalid(form, *, prefix: str = "", names: dict[str, str] | None = None) -> Problem:
    """A page's form refused values the schema allows: 422 with its errors per field, or 409 when all
    that is wrong is a value taken by another object (a name): a conflict with what exists, not a bad value."""
    errors = {f"{prefix}{(names or {}).get(name, name)}": msgs for name, msgs in form_errors(form).items()}
    if all(error.code == TAKEN for field_errors in form.errors.as_data().values() for error in field_errors):
        return conflict(errors)
    return Problem(422, "Some values are not valid.", slug="validation", errors=errors)


def conflict(errors: dict[str, list[str]]) -> Problem:
    return Problem(409, "Another object has this value already.", title="Already taken", slug="conflict",
                   errors=errors)
