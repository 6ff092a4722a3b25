"""What the instance pages and the dashboard show about an instance's dates: the client secret's
countdown (amber within SECRET_WARN_DAYS, red within SECRET_DANGER_DAYS) and a recent moment read
from a query string (the live status's `since`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.dateparse import parse_datetime

SECRET_WARN_DAYS = 30
SECRET_DANGER_DAYS = 7


@dataclass(frozen=True)
class SecretCountdown:
    days: int | None
    label: str
    css: str  # badge class


def secret_countdown(expires_on: dt.date | None, today: dt.date) -> SecretCountdown:
    """'in 12 days' in amber within 30 days, red within 7, 'expired' once past."""
    if expires_on is None:
        return SecretCountdown(None, "—", "")
    days = (expires_on - today).days
    if days < 0:
        return SecretCountdown(days, f"expired {-days} day{'s' if days != -1 else ''} ago", "badge-bad")
    if days == 0:
        return SecretCountdown(days, "expires today", "badge-bad")
    label = f"{days} day{'s' if days != 1 else ''} left"
    if days <= SECRET_DANGER_DAYS:
        return SecretCountdown(days, label, "badge-bad")
    if days <= SECRET_WARN_DAYS:
        return SecretCountdown(days, label, "badge-warn")
    return SecretCountdown(days, label, "")


RECENT_MOMENT_WINDOW = dt.timedelta(hours=1)


def parse_recent_moment(raw: str, now: dt.datetime) -> dt.datetime | None:
    """An aware ISO timestamp from a query string, if it lies within the last hour (a minute of clock
    skew allowed); None for anything else: malformed, impossible (February 30), naive, or years
    away -- where rendering it in local time would overflow."""
    try:
        moment = parse_datetime(raw)
    except ValueError:
        return None
    if moment is None or timezone.is_naive(moment):
        return None
    if not now - RECENT_MOMENT_WINDOW <= moment <= now + dt.timedelta(minutes=1):
        return None
    return moment
