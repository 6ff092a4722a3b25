"""The dashboard's filters, search and sorting: one form in, one queryset out.

Everything the dashboard shows is derived from GET parameters so a filtered view is a
link that can be shared. The queries stay few and constant whatever the number of rows:
one COUNT, one page of rows, one aggregate for the tiles, one for the chart and two for
the filter choices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Avg,
    CharField,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Cast, Coalesce, Substr, TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from setup_portal.api.models import ApiCall

from .models import Instance

SECRET_WARN_DAYS = 30
SECRET_DANGER_DAYS = 7
CHART_DAYS = 30
API_CALLS_WINDOW = dt.timedelta(hours=24)

# ?sort= key -> model field; the id breaks ties so pages never overlap.
SORTS = {
    "name": "name",
    "url": "dynamics_url",
    "auth": "auth_type",
    "status": "status",
    "review": "review_state",
    "health": "health_checked_at",
    "owner": "owner__username",
    "created": "created_at",
    "token": "access_token_expires_at",
    "secret": "secret_expires_on",
    "calls": "api_calls_24h",
}
DEFAULT_SORT = "-created"

SECRET_CHOICES = [
    ("", "Any expiry"),
    ("soon", f"Expired or expiring within {SECRET_WARN_DAYS} days"),
    ("week", f"Expired or expiring within {SECRET_DANGER_DAYS} days"),
    ("expired", "Expired"),
]
ALL_STATUSES = "all"
# What a team lead still has to look at: new instances, and those edited after a change request.
AWAITING_REVIEW = "awaiting"
AWAITING_STATES = [Instance.Review.PENDING, Instance.Review.RESUBMITTED]


class InstanceFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "All but deleted"), *Instance.Status.choices,
                                        (ALL_STATUSES, "All, including deleted")])
    review = forms.ChoiceField(required=False, label="Review",
                               choices=[("", "Any review state"), *Instance.Review.choices,
                                        (AWAITING_REVIEW, "Awaiting review or resubmitted")])
    health = forms.ChoiceField(required=False, label="Health", choices=[("", "Any health"),
                                                                        *Instance.Health.choices])
    tag = forms.CharField(required=False, max_length=50, label="Tag")
    owner = forms.CharField(required=False, max_length=150, label="Owner")
    secret = forms.ChoiceField(required=False, label="Client secret", choices=SECRET_CHOICES)
    sort = forms.CharField(required=False, max_length=20)

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"].strip().lower()
        if "," in tag:
            raise forms.ValidationError("Pick one tag at a time (no commas).")
        return tag

    def clean_sort(self) -> str:
        sort = self.cleaned_data["sort"] or DEFAULT_SORT
        if sort.lstrip("-") not in SORTS:
            raise forms.ValidationError("That column cannot be sorted.")
        return sort


# A `?since=` the portal put in a link after asking for a health check is minutes old.
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


def filter_instances(data: dict, *, today: dt.date | None = None) -> QuerySet[Instance]:
    """The rows matching the cleaned filter data, sorted; deleted ones only when asked for."""
    today = today or timezone.localdate()
    qs = Instance.objects.all()
    status = data.get("status")
    if status == ALL_STATUSES:
        pass
    elif status:
        qs = qs.filter(status=status)
    else:
        qs = qs.exclude(status=Instance.Status.DELETED)
    if data.get("review") == AWAITING_REVIEW:
        qs = qs.filter(review_state__in=AWAITING_STATES)
    elif data.get("review"):
        qs = qs.filter(review_state=data["review"])
    if data.get("health"):
        qs = qs.filter(health=data["health"])
    if data.get("tag"):
        qs = qs.filter(tags__contains=f",{data['tag']},")
    if data.get("owner"):
        qs = qs.filter(owner__username=data["owner"])
    secret = data.get("secret")
    if secret == "soon":
        qs = qs.filter(secret_expires_on__lte=today + dt.timedelta(days=SECRET_WARN_DAYS))
    elif secret == "week":
        qs = qs.filter(secret_expires_on__lte=today + dt.timedelta(days=SECRET_DANGER_DAYS))
    elif secret == "expired":
        qs = qs.filter(secret_expires_on__lt=today)
    if data.get("q"):
        qs = qs.filter(_search(data["q"]))
    qs = qs.annotate(api_calls_24h=api_calls_since(timezone.now() - API_CALLS_WINDOW))
    return qs.order_by(*sort_fields(data.get("sort") or DEFAULT_SORT))


def api_calls_since(since: dt.datetime) -> Coalesce:
    """Each row's API calls since `since`, in the rows' own query: a correlated COUNT that reads
    apicall_instance_time_idx, so the page costs no query per row and the column sorts in SQL."""
    calls = (ApiCall.objects.filter(instance=OuterRef("pk"), created_at__gte=since).order_by()
             .values("instance").annotate(n=Count("*")).values("n"))
    return Coalesce(Subquery(calls, output_field=IntegerField()), 0)


def _search(text: str) -> Q:
    text = text.strip()
    return (Q(name__icontains=text) | Q(dynamics_url__icontains=text) | Q(tenant__icontains=text)
            | Q(client_id__icontains=text) | Q(organization_name__icontains=text)
            | Q(owner__username__icontains=text) | Q(tags__icontains=text) | Q(region__icontains=text))


def sort_fields(sort: str) -> list[str]:
    descending = sort.startswith("-")
    field = SORTS[sort.lstrip("-")]
    prefix = "-" if descending else ""
    return [F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True), f"{prefix}id"]


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


def summary_counts(today: dt.date) -> dict[str, int]:
    """Tile numbers over every instance that is not deleted, in one aggregate query."""
    soon = today + dt.timedelta(days=SECRET_WARN_DAYS)
    live = ~Q(status=Instance.Status.DELETED)
    # COUNT(status) (never NULL, so the same as COUNT(*), which Django refuses with a filter)
    # rather than COUNT(id): every column used is in instance_tiles_idx, so the database
    # scans that narrow index and never touches the table rows.
    counts = {f"status_{value}": Count("status", filter=Q(status=value)) for value in Instance.Status.values}
    counts.update(
        total=Count("status", filter=live),
        secrets_expiring=Count("status", filter=live & Q(secret_expires_on__gte=today, secret_expires_on__lte=soon)),
        secrets_expired=Count("status", filter=live & Q(secret_expires_on__lt=today)),
        health_failing=Count("status", filter=live & Q(health=Instance.Health.FAILING)),
        awaiting_review=Count("status", filter=live & Q(review_state__in=AWAITING_STATES)),
    )
    return Instance.objects.order_by().aggregate(**counts)


@dataclass(frozen=True)
class ChartDay:
    day: dt.date
    created: int
    avg_seconds: float | None


class SecondsBetween(Func):
    """end - start in seconds, with each database's own date arithmetic.

    Django's portable duration subtraction runs a Python function per row on SQLite,
    which made the chart the slowest part of the dashboard at 10,000 instances.
    """

    output_field = FloatField()

    def __init__(self, end: str, start: str):
        super().__init__(F(end), F(start))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)",
                           arg_joiner=") - julianday(", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))",
                           arg_joiner=" - ", **extra)


def _day_of(field: str):
    """The UTC calendar day of a timestamp. Datetimes are stored and read in UTC, so the
    first ten characters of their text form are the day; this avoids a per-row function call."""
    if settings.TIME_ZONE == "UTC":
        return Substr(Cast(field, CharField()), 1, 10)
    return TruncDate(field)


def provisioning_by_day(today: dt.date, days: int = CHART_DAYS) -> list[ChartDay]:
    """Instances created per day over the last `days` days and how long they took to be ready."""
    start = today - dt.timedelta(days=days - 1)
    start_at = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    rows = (Instance.objects.filter(created_at__gte=start_at).order_by()
            .annotate(day=_day_of("created_at")).values("day")
            # COUNT(*) keeps the query inside instance_chart_idx (created_at, ready_at).
            .annotate(n=Count("*"), took=Avg(SecondsBetween("ready_at", "created_at"))))
    by_day = {str(row["day"]): row for row in rows}
    result = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        row = by_day.get(day.isoformat())
        result.append(ChartDay(day, row["n"] if row else 0, row["took"] if row else None))
    return result


def owner_choices() -> list[str]:
    """Usernames of everyone who owns an instance (one query).

    EXISTS probes the owner index once per user; a JOIN + DISTINCT read every instance row.
    """
    owns = Instance.objects.filter(owner=OuterRef("pk"))
    return list(get_user_model().objects.filter(Exists(owns)).order_by("username")
                .values_list("username", flat=True))


def tag_choices() -> list[str]:
    """Every tag in use; tag strings repeat a lot, so DISTINCT keeps this one small query."""
    tags: set[str] = set()
    # order_by() drops the default ordering, which would otherwise join DISTINCT and defeat it.
    for value in Instance.objects.exclude(tags="").order_by().values_list("tags", flat=True).distinct():
        tags.update(t for t in value.split(",") if t)
    return sorted(tags)


def chart_geometry(days: list[ChartDay], *, width: int = 1200, height: int = 130) -> dict:
    """Coordinates for the inline SVG: bars for instances created, a line for average time to ready."""
    left, right, top, bottom = 30, 48, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(days), 1)
    max_n = max([d.created for d in days] + [1])
    timed = [d.avg_seconds for d in days if d.avg_seconds is not None]
    max_s = max(timed + [1.0])
    bars, points = [], []
    for i, d in enumerate(days):
        x = left + i * slot
        h = plot_h * d.created / max_n
        bars.append({"x": round(x + 1, 1), "y": round(top + plot_h - h, 1), "w": round(max(slot - 2, 1), 1),
                     "h": round(h, 1), "label": f"{d.day:%b} {d.day.day}", "n": d.created, "avg": d.avg_seconds,
                     "avg_text": f"{d.avg_seconds:.1f}" if d.avg_seconds is not None else ""})
        if d.avg_seconds is not None:
            points.append(f"{x + slot / 2:.1f},{top + plot_h - plot_h * d.avg_seconds / max_s:.1f}")
    ticks = [{"x": round(left + i * slot + slot / 2, 1), "label": f"{days[i].day:%b} {days[i].day.day}"}
             for i in (0, len(days) // 2, len(days) - 1)] if days else []
    return {"width": width, "height": height, "left": left, "right_x": width - right, "top": top,
            "base_y": top + plot_h, "bars": bars, "line": " ".join(points), "max_n": max_n,
            "max_s": round(max_s, 1), "ticks": ticks, "label_y": height - 6,
            "total": sum(d.created for d in days),
            "avg_s": round(sum(timed) / len(timed), 1) if timed else None}
