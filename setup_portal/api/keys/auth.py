"""The management API's authentication by personal API key, and its per-key rate limit.

`Authorization: Bearer dcp_…` authenticates as the key's owner (request.user) with the key as
request.auth, so the permission module sees the same person as on the pages. A view (or the
API's settings) lists:

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    throttle_classes = [ApiKeyRateThrottle]

and answers errors through `exception_handler`, which gives 401s this API's realm and wording.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.throttling import BaseThrottle

from .. import problems
from ..auth_failures import note_failure
from ..models import ApiKey
from ..ratelimit import setting_limit, spend
from .actions import KEY_TAG, KeyRefused, note_use, verify_api_key

REALM = 'Bearer realm="api"'


def _bearer(request) -> str | None:
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


class ApiKeyAuthentication(BaseAuthentication):
    """(owner, ApiKey) for a usable key; 401 for an unknown, wrong, expired or revoked one, or an inactive owner.

    A request without a Bearer header is left to the next authentication class (the session).
    """

    def authenticate(self, request):
        key = _bearer(request._request)
        if key is None:
            return None
        try:
            api_key = verify_api_key(key)
        except KeyRefused as refused:
            raise note_failure(request._request) or exceptions.AuthenticationFailed(refused.reason) from None
        note_use(api_key, request._request.META.get("REMOTE_ADDR") or None)
        return (api_key.owner, api_key)

    def authenticate_header(self, request) -> str:
        return REALM


def take_for_key(api_key: ApiKey) -> float | None:
    """Spend one call of the key's allowance (shared cache, all processes): None, or seconds to wait."""
    # Named by the random prefix, not the id: ids restart with a fresh database, a Redis bucket may not.
    return spend(f"apikey:{api_key.prefix}", setting_limit("API_KEY_RATE_LIMIT"))


class ApiKeyRateThrottle(BaseThrottle):
    """API_KEY_RATE_LIMIT per key; 429 with Retry-After. Browser sessions are not limited by it."""

    def allow_request(self, request, view) -> bool:
        self._wait = None
        if not isinstance(request.auth, ApiKey):
            return True
        self._wait = take_for_key(request.auth)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


def exception_handler(exc: Exception, context: dict):
    """The API's problem details, with 401s that name this API's realm and what to send."""
    if isinstance(exc, exceptions.NotAuthenticated):
        exc = problems.Problem(401, f"Send a personal API key as 'Authorization: Bearer {KEY_TAG}…' "
                                    "(create one on your profile page, under API keys), or sign in.",
                               title="An API key is needed", headers={"WWW-Authenticate": REALM})
    elif isinstance(exc, exceptions.AuthenticationFailed) and not isinstance(exc, problems.Problem):
        exc = problems.Problem(401, str(exc.detail), slug="invalid-api-key", title="The API key was refused",
                               headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
    return problems.exception_handler(exc, context)
