"""Access tokens for the instance API, kept in the shared cache between calls.

Reading an instance's msal cache means decrypting and deserializing it; doing that on every
call would cost more than the call. So the current access token is kept (encrypted) in the
Django cache until EARLY_SECONDS before it expires. On a miss the instance row is locked and
the cache looked at again before asking msal, so a crowd of concurrent calls waits for one
refresh instead of each doing its own.
"""

from __future__ import annotations

import json
import time

from cryptography.fernet import InvalidToken
from django.core.cache import cache
from django.db import transaction

from setup_portal.crypto import decrypt, encrypt
from setup_portal.instances.models import Instance
from setup_portal.instances.tokens import ACCESS_TOKEN_CACHE_KEY as _KEY
from setup_portal.instances.tokens import acquire_token_for_instance

EARLY_SECONDS = 120
# Each process also remembers a token it has read for a few seconds, so a busy instance costs
# no cache round trip and no decryption per call. A token another process refreshed after a
# 401 is picked up by this process's own 401 (it then finds the new one in the shared cache).
LOCAL_SECONDS = 30
_local: dict[str, tuple[str, float]] = {}


class InstanceGone(Exception):
    """The instance row was deleted while the call was on its way."""


def _remembered(instance_id) -> str | None:
    token, until = _local.get(str(instance_id), ("", 0.0))
    return token if token and until > time.monotonic() else None


def _remember(instance_id, token: str, expires_at: float) -> None:
    seconds = min(LOCAL_SECONDS, expires_at - EARLY_SECONDS - time.time())
    if seconds > 0:
        _local[str(instance_id)] = (token, time.monotonic() + seconds)


def _cached(instance_id) -> str | None:
    stored = cache.get(_KEY.format(instance_id))
    if not stored:
        return None
    try:
        data = json.loads(decrypt(stored))
    except (InvalidToken, ValueError, TypeError):
        return None
    if data.get("expires_at", 0) - EARLY_SECONDS <= time.time() or not data.get("token"):
        return None
    _remember(instance_id, data["token"], data["expires_at"])
    return data["token"]


def _keep(instance_id, token: str, expires_at: float) -> None:
    ttl = int(expires_at - time.time() - EARLY_SECONDS)
    _remember(instance_id, token, expires_at)
    if ttl > 0:
        cache.set(_KEY.format(instance_id), encrypt(json.dumps({"token": token, "expires_at": expires_at})),
                  timeout=ttl)


def forget(instance_id) -> None:
    _local.pop(str(instance_id), None)
    cache.delete(_KEY.format(instance_id))


def access_token(instance: Instance, *, rejected: str | None = None) -> str:
    """The instance's current access token; `rejected` is one Dataverse just refused (401).

    Raises azure.AzureError (from msal) and InstanceGone.
    """
    if rejected is None:
        token = _remembered(instance.pk) or _cached(instance.pk)
        if token:
            return token
    with transaction.atomic():
        # The same lock acquire_token_for_instance takes: whoever holds it is refreshing.
        if not list(Instance.objects.select_for_update().filter(pk=instance.pk).values_list("pk", flat=True)):
            raise InstanceGone()
        token = _cached(instance.pk)
        # Someone refreshed while we waited (a token other than the rejected one): use theirs.
        if token and token != rejected:
            return token
        result = acquire_token_for_instance(instance, force_refresh=rejected is not None)
        _keep(instance.pk, result.access_token, result.expires_at.timestamp())
    return result.access_token
