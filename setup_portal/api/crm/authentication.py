"""Instance-token authentication: `Authorization: Bearer <instance token>`.

The row is found by the token's prefix (indexed) and the SHA-256 of the whole token is
compared in constant time, so neither a lookup by secret value nor a timing difference
tells a caller how much of a guess was right.
"""

from __future__ import annotations

import hmac
import weakref

from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.urls import reverse
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from setup_portal.instances.instance_token import token_hash, token_prefix
from setup_portal.instances.models import Instance
from setup_portal.observability import context

from ..auth_failures import note_failure
from ..problems import REALM, Problem, catalogue_fix

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


# The lookup's SQL, compiled once per database connection object (they are per thread). Building
# the query through the ORM on every call cost about as much CPU as the rest of authentication;
# the query itself still runs on every call, so a disabled, deleted or re-keyed instance stops at once.
_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _candidates(prefix: str) -> list[Instance]:
    """The instances whose token starts with `prefix` (the same rows as
    `Instance.objects.only(*_COLUMNS).filter(token_prefix=prefix)`)."""
    alias = Instance.objects.db
    connection = connections[alias]
    compiled = _compiled.get(connection)
    if compiled is None:
        compiler = Instance.objects.only(*_COLUMNS).filter(token_prefix="").query.get_compiler(alias)
        sql, params = compiler.as_sql()
        if list(params) != [""]:  # the prefix must be the query's only parameter
            raise RuntimeError("unexpected parameters in the token lookup")
        converters = compiler.get_converters([col for col, _, _ in compiler.select])
        compiled = (sql, [col.target.attname for col, _, _ in compiler.select], compiler, converters)
        _compiled[connection] = compiled
    sql, names, compiler, converters = compiled
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        rows = cursor.fetchall()
    if converters:
        rows = compiler.apply_converters(rows, converters)
    return [Instance.from_db(alias, names, row) for row in rows]


def _find(token: str) -> Instance | None:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    digest = token_hash(token)
    found = None
    # Two tokens may share a prefix: compare every candidate, stop on none.
    for candidate in _candidates(token_prefix(token)):
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


def authenticated_instance(request) -> Instance | None:
    """The instance whose token the (Django) request carries; None without a bearer token.
    AuthenticationFailed for an unknown or deleted instance's token, a Problem for one that cannot serve calls."""
    token = _bearer(request)
    if token is None:
        return None
    instance = _find(token)
    if instance is None or instance.status == Instance.Status.DELETED:
        # A deleted instance's token is as unknown as a made-up one.
        raise note_failure(request) or AuthenticationFailed("The instance token is not valid.")
    request.crm_instance = instance  # for the call log, even when refused below
    context.bind_to_request(request, instance_id=instance.pk)
    refuse_unusable(instance, request)
    return instance


class InstanceTokenAuthentication(BaseAuthentication):
    """request.auth = the Instance; request.user stays anonymous (an application, not a person)."""

    def authenticate(self, request):
        instance = authenticated_instance(request._request)
        return None if instance is None else (AnonymousUser(), instance)

    def authenticate_header(self, request) -> str:
        return REALM


class HasInstanceToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Instance)
