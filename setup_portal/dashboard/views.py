"""The dashboard: every instance a reviewer may see, filtered, sorted and paged, and its CSV export
(URL names instances:dashboard and instances:export, dashboard/urls.py)."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from html import escape

from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.defaultfilters import urlencode
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from setup_portal.instances.access import visible_instances
from setup_portal.instances.dates import SECRET_WARN_DAYS, secret_countdown
from setup_portal.instances.models import Instance
from setup_portal.teams import permissions
from setup_portal.teams.models import Team
from setup_portal.teams.roles import is_portal_admin, reviewer_required

from . import counters, filters, paging

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
    visible = visible_instances(request.user)
    sort = data.get("sort") or filters.DEFAULT_SORT
    rows = filters.filter_instances(data, today=today, rows=visible).select_related("owner").only(*LIST_FIELDS)
    try:
        page = paging.get_page(rows, sort, page_number=request.GET.get("page"), cursor=request.GET.get("cursor"))
    except paging.BadPage as exc:
        form.add_error(None, str(exc))
        valid = False
        page = paging.get_page(rows, sort, page_number=None, cursor=None)
    now = timezone.now()
    detail_url = _detail_url_parts()
    tag_link_base = _query_without(request, "tag", "page", "cursor")
    rows = [_row_html(inst, now, today, detail_url, tag_link_base) for inst in page.object_list]
    scope = _counted_teams(request.user, data)
    states, secrets = counters.state_counts(scope), counters.secret_counts(scope, today)
    page.total, page.capped = _total(data, states, secrets, lambda: filters.matching(data, today=today, rows=visible))
    tags, owners = counters.filter_choices(scope)
    chart = filters.chart_geometry(counters.provisioning_by_day(scope, today, filters.CHART_DAYS))
    ctx = {
        "form": form, "page": page, "rows": rows, "today": today,
        "columns": _columns(sort), "counts": counters.tiles(states, secrets),
        "chart": chart, "chart_bars": _bars_svg(chart["bars"]),
        "owners": owners, "tags": tags,
        "teams": form.fields["team"].choices[1:],
        "team_param": f"team={data['team']}&" if data.get("team") else "",
        "filtered": any(data.get(k) for k in filters.FILTERS),
        "warn_days": SECRET_WARN_DAYS, "count_cap": COUNT_CAP,
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


# The auth column's <abbr>: (text, title) by auth type; anything else reads as custom.
AUTH_LABELS = {"oauth2": ("OAuth 2.0", "OAuth 2.0 (authorization code)"),
               "s2s": ("S2S", "Server-to-server (client credentials)")}
CUSTOM_AUTH = ("Custom", "Custom (user name and password)")
_URL_SENTINEL = uuid.UUID(int=0)


def _detail_url_parts() -> tuple[str, str]:
    """The detail page's URL around its id, reversed once per page instead of once per row."""
    prefix, _, suffix = reverse("instances:detail", args=[_URL_SENTINEL]).partition(str(_URL_SENTINEL))
    return prefix, suffix


# One table row. Rendered in Python (every value through html.escape, as the template's autoescape
# would): the same markup through the template's row loop took about half of the page's CPU (some
# 1,500 variable nodes per 50 rows), and format_html per cell a third.
ROW_HTML = (
    '\n<tr>\n'
    '  <td class="name-cell"><a class="row-link" href="{href}">{name}</a>\n'
    '    <span class="url" title="{url}">{url_short}</span>\n'
    '    <span class="meta">{region}{tags}</span></td>\n'
    '  <td class="nowrap"><abbr title="{auth_title}">{auth}</abbr></td>\n'
    '  <td><span class="badge {status_css}">{status}</span></td>\n'
    '  <td><span class="badge {review_css}">{review}</span></td>\n'
    '  <td><span class="badge {health_css}"{health_title}>{health}</span>{checked}</td>\n'
    '  <td class="wraps">{owner}</td>\n'
    '  <td class="wraps">{created}</td>\n'
    '  <td class="wraps">{token}</td>\n'
    '  <td class="nowrap secret-cell">{secret}</td>\n'
    '  <td class="num">{calls}</td>\n'
    '</tr>\n'
)
TAG_HTML = '<a class="tag" href="?{base}tag={query}" aria-label="Filter by tag {tag}">{tag}</a>'
TIME_HTML = '<time datetime="{iso}" data-relative title="{text} UTC">{text} UTC</time>'
NEEDS_REAUTH_HTML = '<abbr title="Needs re-authentication">Needs re-auth</abbr>'
NONE_HTML = '<span class="muted">—</span>'
# get_FOO_display() rebuilds a dict of the choices on every call; these are built once (plain labels).
STATUS_LABELS, REVIEW_LABELS, HEALTH_LABELS = (
    {value: escape(str(label)) for value, label in choices.choices}
    for choices in (Instance.Status, Instance.Review, Instance.Health))


def _time_html(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return TIME_HTML.format(iso=escape(local.isoformat()), text=escape(local.strftime("%Y-%m-%d %H:%M")))


def _row_html(inst: Instance, now: dt.datetime, today: dt.date, detail_url: tuple[str, str],
              tag_link_base: str) -> SafeString:
    """One row of the table. Dates are UTC text that the page's script turns into "3 hours ago";
    the secret column counts down (instances/dates.py)."""
    countdown = secret_countdown(inst.secret_expires_on, today)
    if countdown.days is not None:
        css = f' class="badge {escape(countdown.css)}"' if countdown.css else ""
        secret = (f'<span{css} title="Expires {escape(inst.secret_expires_on.isoformat())}">'
                  f'{escape(countdown.label)}</span>')
    else:
        secret = NONE_HTML
    token = NONE_HTML
    if inst.access_token_expires_at is not None:
        token = _time_html(inst.access_token_expires_at)
        if inst.access_token_expires_at < now:
            token = '<span class="muted">expired </span>' + token
    auth, auth_title = AUTH_LABELS.get(inst.auth_type, CUSTOM_AUTH)
    calls = inst.api_calls_24h
    base = escape(tag_link_base)
    return mark_safe(ROW_HTML.format(  # noqa: S308 - every value is escaped here
        href=escape(f"{detail_url[0]}{inst.id}{detail_url[1]}"), name=escape(inst.name),
        url=escape(inst.dynamics_url), url_short=escape(inst.dynamics_url.replace("https://", "")),
        region=f'<span class="region">{escape(inst.region)}</span>' if inst.region else "",
        tags="".join(TAG_HTML.format(base=base, query=escape(urlencode(t)), tag=escape(t)) for t in inst.tag_list),
        auth=escape(auth), auth_title=escape(auth_title),
        status=NEEDS_REAUTH_HTML if inst.status == Instance.Status.NEEDS_REAUTH
        else STATUS_LABELS.get(inst.status) or escape(inst.get_status_display()),
        status_css=escape(inst.status_css),
        review=REVIEW_LABELS.get(inst.review_state) or escape(inst.get_review_state_display()),
        review_css=escape(inst.review_css),
        health=HEALTH_LABELS.get(inst.health) or escape(inst.get_health_display()), health_css=escape(inst.health_css),
        health_title=f' title="{escape(inst.health_detail)}"' if inst.health_detail else "",
        checked=f'<br><span class="muted small">{_time_html(inst.health_checked_at)}</span>'
        if inst.health_checked_at else "",
        owner=escape(inst.owner.username), created=_time_html(inst.created_at), token=token, secret=secret,
        calls=escape(intcomma(calls) if calls >= 1000 else str(calls)),
    ))


BAR_SVG = '<rect class="bar" x="{x}" y="{y}" width="{w}" height="{h}"><title>{label}: {n} created{avg}</title></rect>'


def _bars_svg(bars: list[dict]) -> SafeString:
    """The chart's 30 bars, escaped, for the same reason as the rows (some 300 variable nodes)."""
    return mark_safe("".join(BAR_SVG.format(  # noqa: S308 - every value is escaped here
        x=b["x"], y=b["y"], w=b["w"], h=b["h"], label=escape(b["label"]), n=b["n"],
        avg=f", {escape(b['avg_text'])} s to Ready on average" if b["avg"] is not None else "") for b in bars))


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
                                    rows=visible_instances(request.user)).values_list(*fields)

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
