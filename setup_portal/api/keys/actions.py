"""Personal API keys for the management API: made, checked and revoked only here.

A key reads `dcp_<prefix>_<secret>`. The portal keeps the prefix (unique, indexed: the row is found
by it) and the SHA-256 of the whole key, made by the same function as the instance token's, and
compares it in constant time. The key itself is returned once by `do_create_api_key` for the page
or the command to show, and is never stored, rendered again or logged.
"""

from __future__ import annotations

import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.instances.instance_token import token_hash

from ..models import ApiKey

KEY_TAG = "dcp_"
PREFIX_LENGTH = 10
# Lower-case letters and digits only: the prefix ends at the first "_", and reads aloud.
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
MAX_KEY_LENGTH = 200
DEFAULT_DAYS = 90
MAX_DAYS = 365
# Last use is written when it is this old, or the address changed: not on every call.
LAST_USE_RESOLUTION = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """A key cannot be made as asked (the message says why, in words for the person)."""


class KeyRefused(Exception):
    """A presented key does not authenticate; `reason` is safe to tell the caller."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    key: str  # the only copy: show it once

    def __repr__(self) -> str:  # a NewKey in a log or a traceback never shows the key
        return f"NewKey({self.api_key!r}, key='{KEY_TAG}{self.api_key.prefix}_…')"


def check_expiry_days(days: int) -> int:
    if days < 1 or days > MAX_DAYS:
        raise ApiKeyError(f"A key lasts from 1 to {MAX_DAYS} days; {days} is outside that.")
    return days


def _new_prefix() -> str:
    return "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


def split_key(key: str) -> str | None:
    """The prefix of something shaped like a key, else None (nothing is looked up for it)."""
    if not key.startswith(KEY_TAG) or len(key) > MAX_KEY_LENGTH or not key.isascii():
        return None
    prefix, separator, secret = key[len(KEY_TAG):].partition("_")
    if len(prefix) != PREFIX_LENGTH or not separator or not secret:
        return None
    return prefix


def do_create_api_key(owner, name: str, *, expires_days: int = DEFAULT_DAYS, acting_user) -> NewKey:
    """A new key for `owner`; `acting_user` is None for the command line."""
    name = name.strip()
    if not name:
        raise ApiKeyError("Give the key a name, so you can tell it from your others later.")
    if len(name) > ApiKey._meta.get_field("name").max_length:
        raise ApiKeyError(f"A key's name is at most {ApiKey._meta.get_field('name').max_length} characters.")
    if not owner.is_active:
        raise ApiKeyError(f"{owner.get_username()} cannot sign in (the account is inactive), so takes no key.")
    now = timezone.now()
    expires_at = now + timedelta(days=check_expiry_days(expires_days))
    for _ in range(5):  # a prefix already taken is astronomically rare: draw again
        prefix = _new_prefix()
        key = f"{KEY_TAG}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(owner=owner, name=name, prefix=prefix, hash=token_hash(key),
                                                created_at=now, expires_at=expires_at)
                record("api_key.created", api_key, actor=acting_user, target_type="apikey",
                       data={"owner": owner.get_username(), "name": name, "prefix": prefix,
                             "expires_at": expires_at.isoformat(), "via": "page" if acting_user else "command"})
        except IntegrityError:
            continue
        return NewKey(api_key, key)
    raise RuntimeError("could not draw an unused API key prefix")


def do_revoke_api_key(api_key: ApiKey, *, acting_user) -> bool:
    """Revoke at once (the next call with it answers 401); False when it was already revoked."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is not None:
            return False
        locked.revoked_at = timezone.now()
        locked.revoked_by = acting_user if acting_user is not None and acting_user.is_authenticated else None
        locked.save(update_fields=["revoked_at", "revoked_by"])
        record("api_key.revoked", locked, actor=acting_user, target_type="apikey",
               data={"owner": locked.owner.get_username(), "name": locked.name, "prefix": locked.prefix})
    api_key.revoked_at, api_key.revoked_by = locked.revoked_at, locked.revoked_by
    return True


def verify_api_key(key: str) -> ApiKey:
    """The usable key row for `key` (its owner loaded), or KeyRefused saying why."""
    prefix = split_key(key)
    found = ApiKey.objects.select_related("owner").filter(prefix=prefix).first() if prefix else None
    # Compare even when no row was found, so an unknown prefix takes as long as a wrong secret.
    expected = found.hash if found is not None else "0" * 64
    if not hmac.compare_digest(expected, token_hash(key)) or found is None:
        raise KeyRefused("The API key is not valid.")
    if found.revoked_at is not None:
        raise KeyRefused("The API key was revoked.")
    if found.expires_at <= timezone.now():
        raise KeyRefused("The API key has expired; create a new one on your profile page.")
    if not found.owner.is_active:
        raise KeyRefused("The API key's owner can no longer sign in.")
    return found


def note_use(api_key: ApiKey, address: str | None) -> None:
    """Record the time and address of a call, writing only when the last record is stale or elsewhere."""
    now = timezone.now()
    last = api_key.last_used_at
    if last is not None and now - last < LAST_USE_RESOLUTION and api_key.last_used_ip == address:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now, last_used_ip=address)
    api_key.last_used_at, api_key.last_used_ip = now, address
