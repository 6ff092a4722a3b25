"""The dashboard's filters, search and sorting: one form in, one queryset out.

Everything the dashboard shows is derived from GET parameters so a filtered view is a
link that can be shared. The queries stay few and constant whatever the number of rows: the
tiles, chart and filter choices read per-team counters (dashboard/counters.py), the list reads one
page (keyset pagination, dashboard/paging.py), and a total comes from the counters or a capped count.

Search: on PostgreSQL one ILIKE over the searched columns joined into one string, the
expression of the trigram index created by stats/migrations/0003 (pg_trgm); on SQLite a
LIKE per column, correct and slower.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Count,
    F,
    Func,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from setup_portal.instances.dates import SECRET_DANGER_DAYS, SECRET_WARN_DAYS
from setup_portal.instances.models import Instance

from .counters import AWAITING_STATES, ChartDay

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
# Sorted with empty values last. The others are never empty, and get a plain ORDER BY, which an
# index answers in either direction (PostgreSQL reads no index for "DESC NULLS LAST" on them).
NULLABLE_SORTS = {"health_checked_at", "access_token_expires_at", "secret_expires_on"}
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
# The filters other than the team's: any of them set makes the list "filtered".
FILTERS = ("q", "status", "review", "health", "tag", "owner", "secret")
# Search text: printable; the separator of the searched columns (chr(31)) can never match.
SEARCH_SEPARATOR = chr(31)


def _attrs_html(attrs: dict) -> str:
    """django/forms/widgets/attrs.html in Python."""
    return "".join(f" {escape(k)}" if v is True else f' {escape(k)}="{escape(str(v))}"'
                   for k, v in attrs.items() if v is not False)


class QuickSelect(forms.Select):
    """forms.Select with the markup of Django's select.html and select_option.html written in Python:
    the dashboard shows five selects, and their templates (an include per option) cost about a sixth
    of the page's CPU. tests/dashboard/test_dashboard.py compares the two outputs."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<select name="{escape(name)}"{_attrs_html(widget["attrs"])}>']
        for group_name, options, _ in widget["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{escape(group_name)}">')
            parts += [f'\n  <option value="{escape(str(o["value"]))}"{_attrs_html(o["attrs"])}>'
                      f'{escape(o["label"])}</option>\n' for o in options]
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value is escaped here


class InstanceFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    team = forms.TypedChoiceField(required=False, label="Team", coerce=int, empty_value=None, choices=[],
                                  widget=QuickSelect)
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "All but deleted"), *Instance.Status.choices,
                                        (ALL_STATUSES, "All, including deleted")], widget=QuickSelect)
    review = forms.ChoiceField(required=False, label="Review",
                               choices=[("", "Any review state"), *Instance.Review.choices,
                                        (AWAITING_REVIEW, "Awaiting review or resubmitted")], widget=QuickSelect)
    health = forms.ChoiceField(required=False, label="Health", choices=[("", "Any health"),
                                                                        *Instance.Health.choices],
                               widget=QuickSelect)
    tag = forms.CharField(required=False, max_length=50, label="Tag")
    owner = forms.CharField(required=False, max_length=150, label="Owner")
    secret = forms.ChoiceField(required=False, label="Client secret", choices=SECRET_CHOICES, widget=QuickSelect)
    sort = forms.CharField(required=False, max_length=20)

    def __init__(self, data=None, *, teams: list[tuple[int, str]] | None = None, **kwargs):
        """`teams`: the (id, name) a viewer may pick; without them a team cannot be asked for."""
        super().__init__(data, **kwargs)
        self.fields["team"].choices = [("", "All my teams"), *(teams or [])]

    def clean_q(self) -> str:
        text = self.cleaned_data["q"].strip()
        if any(not ch.isprintable() for ch in text):
            raise forms.ValidationError("Search for printable text (no control characters).")
        return text

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
def matching(data: dict, *, today: dt.date | None = None,
             rows: QuerySet[Instance] | None = None) -> QuerySet[Instance]:
    """`rows` (every instance when None; the dashboard passes the viewer's) that match the
    cleaned filter data, unsorted; deleted ones only when asked for."""
    today = today or timezone.localdate()
    qs = Instance.objects.all() if rows is None else rows
    if data.get("team"):
        qs = qs.filter(team_id=data["team"])
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
        qs = qs.filter(search(data["q"]))
    return qs


def filter_instances(data: dict, *, today: dt.date | None = None,
                     rows: QuerySet[Instance] | None = None) -> QuerySet[Instance]:
    """The rows matching the cleaned filter data, with their API calls of the last 24 hours, sorted."""
    qs = matching(data, today=today, rows=rows)
    qs = qs.annotate(api_calls_24h=api_calls_since(timezone.now() - API_CALLS_WINDOW))
    return qs.order_by(*sort_fields(data.get("sort") or DEFAULT_SORT))


def api_calls_since(since: dt.datetime) -> Coalesce:
    """Each row's API calls since `since`, in the rows' own query: a correlated COUNT that reads
    apicall_instance_time_idx, so the page costs no query per row and the column sorts in SQL.
    The calls (api/models.py's ApiCall) are reached through the instance's `api_calls` relation:
    the api part sits above the dashboard, which imports none of it."""
    calls = (Instance.objects.filter(pk=OuterRef("pk"), api_calls__created_at__gte=since).order_by()
             .values("pk").annotate(n=Count("api_calls")).values("n"))
    return Coalesce(Subquery(calls, output_field=IntegerField()), 0)


# Keep in step with stats/migrations/0003_instance_search_trigram_index.py.
SEARCH_COLUMNS = ("name", "dynamics_url", "tenant", "client_id", "organization_name", "tags", "region")


class _SearchedText(TextField):
    """The type of SearchText, which alone carries the `contains_text` lookup."""


class SearchText(Func):
    """The searched columns as one string, the expression the trigram index is built on (PostgreSQL)."""

    arg_joiner = " || chr(31) || "
    template = "(%(expressions)s)"
    output_field = _SearchedText()

    def __init__(self):
        super().__init__(*(F(column) for column in SEARCH_COLUMNS))


@_SearchedText.register_lookup
class ContainsText(Lookup):
    """`ILIKE '%text%'`, which a gin_trgm_ops index answers (Django's icontains is UPPER() LIKE, which it does not)."""

    lookup_name = "contains_text"

    def get_db_prep_lookup(self, value, connection):
        return "%s", ["%" + connection.ops.prep_for_like_query(value) + "%"]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def search(text: str) -> Q:
    """Instances whose name, URL, tenant, client ID, organization, tags, region or owner's user name
    contain `text`, whatever the case."""
    text = text.strip()
    if connection.vendor == "postgresql":
        # Owners are few: their ids, found first, keep the instance query on indexes (trigram OR owner).
        owners = list(get_user_model().objects.filter(username__icontains=text).values_list("pk", flat=True)[:500])
        found = Q(ContainsText(SearchText(), text))
        return found | Q(owner_id__in=owners) if owners else found
    return (Q(name__icontains=text) | Q(dynamics_url__icontains=text) | Q(tenant__icontains=text)
            | Q(client_id__icontains=text) | Q(organization_name__icontains=text)
            | Q(owner__username__icontains=text) | Q(tags__icontains=text) | Q(region__icontains=text))


def sort_fields(sort: str) -> list:
    descending = sort.startswith("-")
    field = SORTS[sort.lstrip("-")]
    if field in NULLABLE_SORTS:
        first = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    else:
        first = F(field).desc() if descending else F(field).asc()
    return [first, F("id").desc() if descending else F("id").asc()]


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
