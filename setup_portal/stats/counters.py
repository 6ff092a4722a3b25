"""The dashboard's counters, the write side: what one instance contributes, deltas applied in the
writer's transaction, and the recount that `check_counters` compares them with.

Every counted value of an instance (team, owner, status, review, health, secret expiry,
tags, creation day, time to Ready) is a key in one of stats/models.py's tables. A change is
`after - before` of the instance's contributions, applied as one upsert per table touched
(INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n on SQLite and PostgreSQL), in a
fixed order, so two transactions never wait on each other's counter rows in opposite orders.
instances/state.py's transition() is the one caller for changes; seed_instances adds whole
batches through `add_rows`. This module takes plain values (an instance's fields, or the
instances' queryset to recount) and imports no instance code: the stats sit below the instances.
The readers (tiles, chart, filter choices) are the dashboard's (dashboard/counters.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Count, F, FloatField, Func, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import DailyProvisioning, OwnerCount, SecretExpiryCount, StateCount, TagCount

# The instance fields (attnames) the counters depend on; `snapshot` reads them.
ROW_FIELDS = ("team_id", "owner_id", "status", "review_state", "health", "secret_expires_on", "tags",
              "created_at", "ready_at")
# Instance.Status.DELETED (instances/models.py; tests/stats/test_counters.py keeps them equal): a deleted
# instance's secret no longer counts as expiring.
DELETED = "deleted"


@dataclass(frozen=True)
class Table:
    model: type[models.Model]
    key: tuple[str, ...]  # column names of the unique key
    values: tuple[str, ...]  # the summed columns

    @property
    def name(self) -> str:
        return self.model._meta.db_table


STATE = Table(StateCount, ("team_id", "status", "review_state", "health"), ("n",))
SECRETS = Table(SecretExpiryCount, ("team_id", "expires_on"), ("n",))
TAGS = Table(TagCount, ("team_id", "tag"), ("n",))
OWNERS = Table(OwnerCount, ("team_id", "owner_id"), ("n",))
DAYS = Table(DailyProvisioning, ("team_id", "day"), ("created", "ready", "ready_seconds"))
TABLES = (STATE, SECRETS, TAGS, OWNERS, DAYS)

# {table: {key tuple: [value, ...]}}
Counts = dict[Table, dict[tuple, list]]


def snapshot(inst) -> dict[str, Any]:
    return {field: getattr(inst, field) for field in ROW_FIELDS}


def day_of(moment: dt.datetime) -> dt.date:
    """The calendar day the chart puts a moment in (the portal's time zone, UTC by default)."""
    return timezone.localtime(moment).date()


def tag_list(stored: str) -> list[str]:
    return sorted({t for t in (stored or "").split(",") if t})


def _new() -> Counts:
    return {table: defaultdict(lambda t=table: [0] * len(t.values)) for table in TABLES}


def _add(counts: Counts, row: Mapping[str, Any], sign: int, times: int = 1) -> None:
    """Add (sign=1) or take away (sign=-1) what `times` instances like `row` contribute."""
    k = sign * times
    team = row["team_id"]
    counts[STATE][(team, row["status"], row["review_state"], row["health"])][0] += k
    if row["status"] != DELETED and row["secret_expires_on"] is not None:
        counts[SECRETS][(team, row["secret_expires_on"])][0] += k
    for tag in tag_list(row["tags"]):
        counts[TAGS][(team, tag)][0] += k
    counts[OWNERS][(team, row["owner_id"])][0] += k
    day = counts[DAYS][(team, day_of(row["created_at"]))]
    day[0] += k
    if row["ready_at"] is not None:
        day[1] += k
        day[2] += k * (row["ready_at"] - row["created_at"]).total_seconds()


def _nonzero(counts: Counts) -> Counts:
    return {table: {key: vals for key, vals in rows.items() if any(vals)} for table, rows in counts.items()}


def delta(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Counts:
    """What changes when an instance goes from `before` to `after` (None: it did not / no longer exists)."""
    counts = _new()
    if before is not None:
        _add(counts, before, -1)
    if after is not None:
        _add(counts, after, +1)
    return _nonzero(counts)


def rows_delta(rows: Iterable[Mapping[str, Any]]) -> Counts:
    """What a batch of new instances adds (seed_instances)."""
    counts = _new()
    for row in rows:
        _add(counts, row, +1)
    return _nonzero(counts)


def _upsert_sql(table: Table, rows: int) -> str:
    q = connection.ops.quote_name
    columns = (*table.key, *table.values)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sets = ", ".join(f"{q(v)} = {q(table.name)}.{q(v)} + excluded.{q(v)}" for v in table.values)
    return (f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in columns)}) VALUES {', '.join([one] * rows)} "
            f"ON CONFLICT ({', '.join(q(c) for c in table.key)}) DO UPDATE SET {sets}")


BATCH = 500


def apply(counts: Counts) -> None:
    """Add `counts` to the counter tables: one statement per table touched (per 500 keys)."""
    if not any(counts.values()):
        return
    with connection.cursor() as cursor:
        for table in TABLES:
            rows = sorted(counts.get(table, {}).items(), key=lambda kv: tuple(str(part) for part in kv[0]))
            for start in range(0, len(rows), BATCH):
                chunk = rows[start:start + BATCH]
                params = [value for key, vals in chunk for value in (*key, *vals)]
                cursor.execute(_upsert_sql(table, len(chunk)), params)


def add_rows(rows: Iterable[Mapping[str, Any]]) -> None:
    apply(rows_delta(rows))


# Recounting -------------------------------------------------------------------------------------------

class SecondsBetween(Func):
    """end - start in seconds, with each database's own date arithmetic."""

    output_field = FloatField()

    def __init__(self, end: str, start: str):
        super().__init__(F(end), F(start))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)",
                           arg_joiner=") - julianday(", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))",
                           arg_joiner=" - ", **extra)


def recount(instances: models.QuerySet) -> Counts:
    """The counters as they should be, from the instances' rows (GROUP BY queries, no row loop): every
    instance (`Instance.objects.all()`), or the historical model's in the migration that fills them."""
    counts = _new()
    rows = instances.order_by()
    for team, status, review, health, n in (rows.values_list("team_id", "status", "review_state", "health")
                                            .annotate(n=Count("*"))):
        counts[STATE][(team, status, review, health)][0] += n
    for team, expires_on, n in (rows.exclude(status=DELETED).exclude(secret_expires_on=None)
                                .values_list("team_id", "secret_expires_on").annotate(n=Count("*"))):
        counts[SECRETS][(team, expires_on)][0] += n
    for team, stored, n in rows.exclude(tags="").values_list("team_id", "tags").annotate(n=Count("*")):
        for tag in tag_list(stored):
            counts[TAGS][(team, tag)][0] += n
    for team, owner, n in rows.values_list("team_id", "owner_id").annotate(n=Count("*")):
        counts[OWNERS][(team, owner)][0] += n
    for team, day, created, ready, seconds in (
            rows.annotate(day=TruncDate("created_at")).values_list("team_id", "day")
            .annotate(created=Count("*"), ready=Count("ready_at"), seconds=Sum(SecondsBetween("ready_at",
                                                                                              "created_at")))):
        counts[DAYS][(team, day)] = [created, ready, seconds or 0.0]
    return _nonzero(counts)


def stored() -> Counts:
    counts = _new()
    for table in TABLES:
        for row in table.model.objects.values_list(*table.key, *table.values):
            counts[table][tuple(row[:len(table.key)])] = list(row[len(table.key):])
    return _nonzero(counts)


@dataclass(frozen=True)
class Drift:
    table: str
    key: tuple
    stored: tuple
    counted: tuple

    def __str__(self) -> str:
        return f"{self.table} {self.key}: stored {self.stored}, counted {self.counted}"


def _same(table: Table, a: list, b: list) -> bool:
    if table is not DAYS:
        return a == b
    # Seconds are summed as floats, one instance at a time here and per row in SQL (SQLite's
    # julianday() rounds to ~0.1 ms): equal within a millisecond per instance counted.
    return a[:2] == b[:2] and abs(a[2] - b[2]) <= 0.001 * max(a[1], b[1], 1)


def compare(have: Counts, want: Counts) -> list[Drift]:
    drift = []
    for table in TABLES:
        zero = [0] * len(table.values)
        for key in sorted(set(have.get(table, {})) | set(want.get(table, {})), key=lambda k: tuple(map(str, k))):
            a, b = have.get(table, {}).get(key, zero), want.get(table, {}).get(key, zero)
            if not _same(table, a, b):
                drift.append(Drift(table.model.__name__, key, tuple(a), tuple(b)))
    return drift


def _lock_counters() -> None:
    """Hold off every counter update while recounting (PostgreSQL): a change that has not
    committed yet is then either in the recount, or waits and is applied on top of the repair."""
    if connection.vendor == "postgresql":
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {', '.join(q(t.name) for t in TABLES)} IN SHARE ROW EXCLUSIVE MODE")


def check(instances: models.QuerySet, *, repair: bool = False) -> list[Drift]:
    """Compare the counters with a recount of `instances` (every instance); with `repair`, replace
    them by the recount. Returns the drift found (before any repair)."""
    with transaction.atomic():
        _lock_counters()
        want = recount(instances)
        drift = compare(stored(), want)
        if drift and repair:
            for table in TABLES:
                table.model.objects.all().delete()
            apply(want)
    return drift
