"""Instance-token authentication: `Authorization: Bearer <instance token>`.

The row is found by the token's prefix (indexed) and the SHA-256 of the whole token is
compared in constant time, so neither a lookup by secret value nor a timing difference
tells a caller how much of a guess was right.
"""

from __future__ import annotations

import hmac

from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from setup_portal.instances.instance_token import token_hash, token_prefix
from setup_portal.instances.models import Instance

from .problems import REALM, Problem, catalogue_fix

MAX_TOKEN_LENGTH = 200
# The columns the API needs per call; the encrypted token cache and secrets stay unread.
_COLUMNS = ("id", "name", "status", "status_code", "status_detail", "token_hash", "dynamics_url", "use_sandbox",
            "filter_nulls", "trace_until", "tenant", "cloud", "auth_type")


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer":
        return None
    return token.strip()


def _find(token: str) -> Instance | None:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    digest = token_hash(token)
    found = None
    # Two tokens may share a prefix: compare every candidate, stop on none.
    for candidate in Instance.objects.only(*_COLUMNS).filter(token_prefix=token_prefix(token)):
        if candidate.token_hash and hmac.compare_digest(candidate.token_hash, digest):
            found = candidate
    return found


def instance_page(instance: Instance, request) -> str:
    return request.build_absolute_uri(reverse("instances:detail", args=[instance.pk]))


def refuse_unusable(instance: Instance, request) -> None:
    """403/409 problem for an instance whose state does not let it serve calls."""
    status = instance.status
    if status == Instance.Status.READY:
        return
    page = instance_page(instance, request)
    extra = {"instanceStatus": status, "instancePage": page}
    if status == Instance.Status.DISABLED:
        raise Problem(403, "This instance is disabled. An admin of its team can enable it on the instance page.",
                      slug="instance-disabled", title="The instance is disabled", extra=extra)
    if status == Instance.Status.NEEDS_REAUTH:
        code = instance.status_code or "invalid_grant"
        raise Problem(409, "The instance needs re-authentication: Azure AD no longer accepts its saved sign-in. "
                      f"An admin of its team signs in again with 'Re-authenticate' on {page}.",
                      slug="needs-reauthentication", title="The instance needs re-authentication",
                      code=code, fix=catalogue_fix(code) or instance.status_detail, extra=extra)
    if status == Instance.Status.PROVISIONING:
        raise Problem(409, f"The instance is still being provisioned. Its progress is on {page}.",
                      slug="instance-provisioning", title="The instance is not ready yet", extra=extra)
    raise Problem(409, f"Provisioning of this instance failed; it serves no calls. What went wrong is on {page}.",
                  slug="instance-failed", title="The instance failed to provision",
                  code=instance.status_code, fix=catalogue_fix(instance.status_code) if instance.status_code else "",
                  extra=extra)


class InstanceTokenAuthentication(BaseAuthentication):
    """request.auth = the Instance; request.user stays anonymous (an application, not a person)."""

    def authenticate(self, request):
        token = _bearer(request._request)
        if token is None:
            return None
        instance = _find(token)
        if instance is None or instance.status == Instance.Status.DELETED:
            # A deleted instance's token is as unknown as a made-up one.
            raise AuthenticationFailed("The instance token is not valid.")
        request._request.crm_instance = instance  # for the call log, even when refused below
        refuse_unusable(instance, request._request)
        return (AnonymousUser(), instance)

    def authenticate_header(self, request) -> str:
        return REALM


class HasInstanceToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Instance)
