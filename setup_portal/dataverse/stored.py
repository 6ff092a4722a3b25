"""The stored copy of an instance's environment metadata (models.EnvironmentMetadata): read it,
store a fresh read, and claim the once-a-minute refresh for unknown names.

Callers bring the instance's Dynamics URL and token (this layer knows no instances); the instance
API (api/crm/metadata.py) and event polling (instances/polled_tables.py) share the one stored copy.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError
from django.utils import timezone

from .metadata import read_definitions
from .models import EnvironmentMetadata


class InstanceGone(LookupError):
    """The instance was deleted while its metadata was being read."""


def fetched_at(instance_id) -> datetime | None:
    """When the stored copy was read (one small indexed SELECT); None when there is none."""
    return EnvironmentMetadata.objects.filter(instance_id=instance_id).values_list("fetched_at", flat=True).first()


def load(instance_id) -> tuple[dict, datetime] | None:
    """The stored definitions and their fetch time, or None."""
    return EnvironmentMetadata.objects.filter(instance_id=instance_id).values_list("definitions", "fetched_at").first()


def store(instance_id, definitions: dict, *, first: bool = False) -> datetime:
    """Keep a fresh read; the `first` read also counts as the minute's refresh for unknown names.
    Raises InstanceGone when the instance no longer exists."""
    now = timezone.now()
    try:
        EnvironmentMetadata.objects.update_or_create(
            instance_id=instance_id, defaults={"definitions": definitions, "fetched_at": now,
                                               **({"checked_at": now} if first else {})})
    except IntegrityError:
        raise InstanceGone(instance_id) from None
    return now


def read_and_store(instance_id, dynamics_url: str, access_token: str, *, first: bool = False) -> tuple[dict, datetime]:
    """Read the environment's metadata (DataverseError when that fails) and store it."""
    definitions = read_definitions(dynamics_url, access_token)
    return definitions, store(instance_id, definitions, first=first)


def claim_refresh(instance_id, window: timedelta) -> bool:
    """True for the one caller that may read again now: the last such claim is older than `window`
    (one conditional UPDATE, so concurrent callers do not all refetch)."""
    now = timezone.now()
    return bool(EnvironmentMetadata.objects.filter(instance_id=instance_id).exclude(
        checked_at__gt=now - window).update(checked_at=now))
