"""The dashboard's counters, the read side: tiles, the provisioning chart and the filter choices, summed
from stats/models.py's per-team counters (which instances/state.py's transition() keeps, stats/counters.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models
from django.db.models import Q, Sum

from setup_portal.instances.dates import SECRET_DANGER_DAYS, SECRET_WARN_DAYS
from setup_portal.instances.models import Instance
from setup_portal.stats.counters import DELETED
from setup_portal.stats.models import DailyProvisioning, OwnerCount, SecretExpiryCount, StateCount, TagCount

AWAITING_STATES = (Instance.Review.PENDING, Instance.Review.RESUBMITTED)


def _scoped(queryset, team_ids: Iterable[int] | None):
    return queryset if team_ids is None else queryset.filter(team_id__in=list(team_ids))


@dataclass(frozen=True)
class StateCounts:
    """Instances per (status, review state, health) in the teams asked for, summed over those teams."""

    rows: dict[tuple[str, str, str], int]

    def total(self, *, statuses: Iterable[str] | None = None, reviews: Iterable[str] | None = None,
              healths: Iterable[str] | None = None) -> int:
        """How many match: None is any value (deleted instances count only when `statuses` names them)."""
        statuses = set(statuses) if statuses is not None else set(Instance.Status.values) - {DELETED}
        reviews = set(reviews) if reviews is not None else None
        healths = set(healths) if healths is not None else None
        return sum(n for (status, review, health), n in self.rows.items()
                   if status in statuses and (reviews is None or review in reviews)
                   and (healths is None or health in healths))


def state_counts(team_ids: Iterable[int] | None) -> StateCounts:
    rows = (_scoped(StateCount.objects, team_ids).order_by().values_list("status", "review_state", "health")
            .annotate(total=Sum("n")))
    return StateCounts({(status, review, health): total for status, review, health, total in rows if total})


@dataclass(frozen=True)
class SecretCounts:
    expired: int  # expiry before today
    expiring: int  # today .. today + SECRET_WARN_DAYS
    within_week: int  # before today + SECRET_DANGER_DAYS, expired included


def secret_counts(team_ids: Iterable[int] | None, today: dt.date) -> SecretCounts:
    soon, week = today + dt.timedelta(days=SECRET_WARN_DAYS), today + dt.timedelta(days=SECRET_DANGER_DAYS)
    sums = _scoped(SecretExpiryCount.objects, team_ids).filter(expires_on__lte=soon).aggregate(
        expired=Sum("n", filter=Q(expires_on__lt=today)), expiring=Sum("n", filter=Q(expires_on__gte=today)),
        within_week=Sum("n", filter=Q(expires_on__lte=week)))
    return SecretCounts(**{name: value or 0 for name, value in sums.items()})


def tiles(states: StateCounts, secrets: SecretCounts) -> dict[str, int]:
    """The dashboard's summary tiles (deleted instances are left out of all but their own count)."""
    counts = {f"status_{status}": states.total(statuses=[status]) for status in Instance.Status.values}
    counts.update(total=states.total(), secrets_expiring=secrets.expiring, secrets_expired=secrets.expired,
                  health_failing=states.total(healths=[Instance.Health.FAILING]),
                  awaiting_review=states.total(reviews=AWAITING_STATES))
    return counts


@dataclass(frozen=True)
class ChartDay:
    day: dt.date
    created: int
    avg_seconds: float | None


def provisioning_by_day(team_ids: Iterable[int] | None, today: dt.date, days: int) -> list[ChartDay]:
    """Instances created per day over the last `days` days and their average time to Ready."""
    start = today - dt.timedelta(days=days - 1)
    rows = (_scoped(DailyProvisioning.objects, team_ids).filter(day__gte=start, day__lte=today).order_by()
            .values("day").annotate(created=Sum("created"), ready=Sum("ready"), seconds=Sum("ready_seconds")))
    by_day = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        row = by_day.get(day)
        created = row["created"] if row else 0
        avg = row["seconds"] / row["ready"] if row and row["ready"] else None
        result.append(ChartDay(day, created, avg))
    return result


def filter_choices(team_ids: Iterable[int] | None) -> tuple[list[str], list[str]]:
    """The tags and the owners' user names in use in these teams, for the filters (one UNION query)."""
    kind = models.CharField()
    tags = (_scoped(TagCount.objects, team_ids).filter(n__gt=0).order_by()
            .values_list(models.Value("tag", output_field=kind), "tag"))
    owners = (_scoped(OwnerCount.objects, team_ids).filter(n__gt=0).order_by()
              .values_list(models.Value("owner", output_field=kind), "owner__username"))
    found: dict[str, list[str]] = {"tag": [], "owner": []}
    for what, value in tags.union(owners):
        found[what].append(value)
    return sorted(found["tag"]), sorted(found["owner"])


def tag_choices(team_ids: Iterable[int] | None) -> list[str]:
    return filter_choices(team_ids)[0]


def owner_choices(team_ids: Iterable[int] | None) -> list[str]:
    return filter_choices(team_ids)[1]
