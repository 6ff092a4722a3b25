"""The dashboard: every instance a reviewer may see, filtered, sorted and paged, and its CSV export."""

from __future__ import annotations

import csv
import datetime as dt

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from setup_portal import permissions
from setup_portal.accounts.roles import is_portal_admin, reviewer_required
from setup_portal.stats import counters
from setup_portal.teams.models import Team

from . import filters, paging
from .models import Instance

# Filtered lists are counted up to here ("more than 1,000"): an exact count of a filter matching
# most of a million rows would read them all. Unfiltered and state-only lists are counted exactly
# from the counters.
COUNT_CAP = 1000
# What the table needs; the encrypted columns (token cache, secrets) are never read here.
LIST_FIELDS = ["id", "name", "tags", "owner__username", "created_at", "dynamics_url", "region", "auth_type",
               "status", "health", "health_checked_at", "health_detail", "review_state",
               "access_token_expires_at", "secret_expires_on"]
COLUMNS = [("name", "Instance · URL · tags"), ("auth", "Auth"), ("status", "Status"),
           ("review", "Review"), ("health", "Health"), ("owner", "Owner"), ("created", "Created"),
           ("token", "Access token"), ("secret", "Client secret"), ("calls", "API calls (24h)")]


@reviewer_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    form = filters.InstanceFilterForm(request.GET, teams=_team_choices(request.user))
    valid = form.is_valid()
    data = form.cleaned_data
    today = timezone.localdate()
    visible = permissions.visible_instances(request.user)
    sort = data.get("sort") or filters.DEFAULT_SORT
    rows = filters.filter_instances(data, today=today, rows=visible).select_related("owner").only(*LIST_FIELDS)
    try:
        page = paging.get_page(rows, sort, page_number=request.GET.get("page"), cursor=request.GET.get("cursor"))
    except paging.BadPage as exc:
        form.add_error(None, str(exc))
        valid = False
        page = paging.get_page(rows, sort, page_number=None, cursor=None)
    now = timezone.now()
    for inst in page.object_list:
        inst.countdown = filters.secret_countdown(inst.secret_expires_on, today)
        inst.ui = _row_display(inst, now)
    scope = _counted_teams(request.user, data)
    states, secrets = counters.state_counts(scope), counters.secret_counts(scope, today)
    page.total, page.capped = _total(data, states, secrets, lambda: filters.matching(data, today=today, rows=visible))
    tags, owners = counters.filter_choices(scope)
    ctx = {
        "form": form, "page": page, "today": today,
        "columns": _columns(sort), "counts": counters.tiles(states, secrets),
        "chart": filters.chart_geometry(counters.provisioning_by_day(scope, today, filters.CHART_DAYS)),
        "owners": owners, "tags": tags,
        "teams": form.fields["team"].choices[1:],
        "team_param": f"team={data['team']}&" if data.get("team") else "",
        "filtered": any(data.get(k) for k in filters.FILTERS),
        "warn_days": counters.SECRET_WARN_DAYS, "count_cap": COUNT_CAP,
        # Built once: the per-row tag links keep the other filters without a {% querystring %} per tag.
        "tag_link_base": _query_without(request, "tag", "page", "cursor"),
    }
    return render(request, "instances/dashboard.html", ctx, status=200 if valid else 400)


def _team_choices(user) -> list[tuple[int, str]]:
    """The teams a viewer can narrow the dashboard to: none to pick from when they are in one team."""
    if is_portal_admin(user):
        return list(Team.objects.order_by("name").values_list("id", "name"))
    ids = permissions.team_ids(user)
    if len(ids) < 2:
        return []
    return list(Team.objects.filter(pk__in=ids).order_by("name").values_list("id", "name"))


def _counted_teams(user, data: dict) -> list[int] | None:
    """The teams whose counters the tiles, chart and choices add up (None: every team)."""
    if data.get("team"):
        return [data["team"]]
    return None if is_portal_admin(user) else sorted(permissions.team_ids(user))


def _total(data: dict, states: counters.StateCounts, secrets: counters.SecretCounts, matching) -> tuple[int, bool]:
    """How many instances the list holds, and whether that is a lower bound (COUNT_CAP reached).

    Filters on status, review and health (and the team) are answered by the counters, and so is the
    secret filter alone; anything else is counted in SQL up to COUNT_CAP.
    """
    status, review, health, secret = (data.get(k) for k in ("status", "review", "health", "secret"))
    if not any(data.get(k) for k in ("q", "tag", "owner", "secret")):
        statuses = Instance.Status.values if status == filters.ALL_STATUSES else [status] if status else None
        reviews = counters.AWAITING_STATES if review == filters.AWAITING_REVIEW else [review] if review else None
        return states.total(statuses=statuses, reviews=reviews, healths=[health] if health else None), False
    if secret and not any(data.get(k) for k in ("q", "tag", "owner", "status", "review", "health")):
        by_filter = {"soon": secrets.expired + secrets.expiring, "week": secrets.within_week,
                     "expired": secrets.expired}
        return by_filter[secret], False
    found = matching().order_by().values("pk")[:COUNT_CAP + 1].count()
    return min(found, COUNT_CAP), found > COUNT_CAP


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    encoded = query.urlencode()
    return f"{encoded}&" if encoded else ""


def _stamp(value: dt.datetime | None) -> dict | None:
    """What includes/time.html renders, prepared in Python: its date filters cost ~10 ms per 50-row page."""
    if value is None:
        return None
    local = timezone.localtime(value)
    return {"iso": local.isoformat(), "text": local.strftime("%Y-%m-%d %H:%M")}


def _row_display(inst: Instance, now: dt.datetime) -> dict:
    return {
        "status": inst.get_status_display(), "status_css": inst.status_css,
        "review": inst.get_review_state_display(), "review_css": inst.review_css,
        "health": inst.get_health_display(), "health_css": inst.health_css,
        "checked": _stamp(inst.health_checked_at), "created": _stamp(inst.created_at),
        "token": _stamp(inst.access_token_expires_at),
        "token_expired": inst.access_token_expires_at is not None and inst.access_token_expires_at < now,
        "secret_on": inst.secret_expires_on.isoformat() if inst.secret_expires_on else "",
    }


def _columns(sort: str) -> list[dict]:
    current, descending = sort.lstrip("-"), sort.startswith("-")
    columns = []
    for key, label in COLUMNS:
        col = {"key": key, "label": label, "aria": None, "next": None}
        if key:
            col["aria"] = ("descending" if descending else "ascending") if key == current else "none"
            col["next"] = key if key == current and descending else (f"-{key}" if key == current else key)
        columns.append(col)
    return columns


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value) -> str:
    """Spreadsheet-safe text: a leading = + - @ would run as a formula in Excel."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + value if value[:1] in {"=", "+", "-", "@"} else value


@reviewer_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    form = filters.InstanceFilterForm(request.GET, teams=_team_choices(request.user))
    if not form.is_valid():
        # Exporting with the bad filter dropped would hand over rows nobody asked for: show why instead.
        return dashboard(request)
    today = timezone.localdate()
    fields = ["id", "name", "dynamics_url", "region", "cloud", "tenant", "auth_type", "client_id", "status",
              "review_state", "reviewed_by__username", "reviewed_at", "health", "health_checked_at",
              "owner__username", "created_at", "ready_at", "access_token_expires_at", "secret_expires_on", "tags"]
    header = [*fields[:-1], "secret_days_left", "tags"]
    header = [h.replace("__username", "") for h in header]
    rows = filters.filter_instances(form.cleaned_data, today=today,
                                    rows=permissions.visible_instances(request.user)).values_list(*fields)

    def lines():
        writer = csv.writer(_Echo())
        yield writer.writerow(header)
        for row in rows.iterator(chunk_size=2000):
            *head, tags = row
            expires = head[fields.index("secret_expires_on")]
            days_left = (expires - today).days if expires else None
            yield writer.writerow([_csv_cell(v) for v in [*head, days_left, tags.strip(",").replace(",", " ")]])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="instances-{today.isoformat()}.csv"'
    return response
