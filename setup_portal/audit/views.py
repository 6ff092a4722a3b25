"""Browse, filter and export the audit log (admins and team leads: their teams' events;
portal administrators: all of them)."""

from __future__ import annotations

import csv
import datetime as dt
import json

from django import forms
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from setup_portal.forms import FilterDateField
from setup_portal.teams.roles import is_admin, reviewer_required

from .access import visible_audit_events
from .models import AuditEvent, without_hints

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    actor = forms.CharField(required=False, max_length=150, label="Actor")
    verb = forms.CharField(required=False, max_length=64, label="Action")
    target_type = forms.CharField(required=False, max_length=32, label="Target type")
    target = forms.CharField(required=False, max_length=64, label="Target id")
    since = FilterDateField(label="From")
    until = FilterDateField(label="To")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data


def filter_events(data: dict, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """`events` (the ones the user may see) narrowed by the filter form's cleaned data."""
    qs = events
    if data.get("actor"):
        qs = qs.filter(actor_label=data["actor"])
    if data.get("verb"):
        qs = qs.filter(verb=data["verb"])
    if data.get("target_type"):
        qs = qs.filter(target_type=data["target_type"])
    if data.get("target"):
        qs = qs.filter(target_id=data["target"])
    if data.get("since"):
        qs = qs.filter(created_at__gte=_day_start(data["since"]))
    if data.get("until"):
        qs = qs.filter(created_at__lt=_day_start(data["until"] + dt.timedelta(days=1)))
    if data.get("q"):
        text = data["q"].strip()
        qs = qs.filter(Q(target_label__icontains=text) | Q(verb__icontains=text) | Q(actor_label__icontains=text)
                       | Q(target_id__iexact=text))
    return qs.order_by("-created_at", "-id")


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@reviewer_required
@require_GET
def log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    return _log_page(request, form, status=200 if form.is_valid() else 400)


def _log_page(request: HttpRequest, form: AuditFilterForm, *, status: int, export_refused: bool = False
              ) -> HttpResponse:
    visible = visible_audit_events(request.user)
    events = filter_events(form.cleaned_data, visible).select_related(None)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    ctx = {
        "form": form, "page": page,
        "verbs": visible.order_by("verb").values_list("verb", flat=True).distinct(),
        "target_types": visible.order_by("target_type").values_list("target_type", flat=True).distinct(),
        "actors": visible.order_by("actor_label").values_list("actor_label", flat=True).distinct(),
        "filtered": any(form.cleaned_data.get(k) for k in form.fields),
        "export_refused": export_refused,
    }
    return render(request, "audit/log.html", ctx, status=status)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(text: str) -> str:
    """A leading = + - @ would run as a formula in a spreadsheet."""
    return "'" + text if text[:1] in {"=", "+", "-", "@"} else text


@reviewer_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        # Exporting with the bad filter dropped would hand over rows nobody asked for.
        return _log_page(request, form, status=400, export_refused=True)
    visible = visible_audit_events(request.user)
    rows = filter_events(form.cleaned_data, visible).values_list("created_at", "actor_label", "verb", "target_type",
                                                                 "target_id", "target_label", "data")
    hints = is_admin(request.user)

    def lines():
        writer = csv.writer(_Echo())
        yield writer.writerow(["when", "actor", "action", "target_type", "target_id", "target", "data"])
        for when, actor, verb, ttype, tid, label, data in rows.iterator(chunk_size=2000):
            yield writer.writerow([when.isoformat(), _cell(actor), verb, ttype, tid, _cell(label),
                                   json.dumps(data if hints else without_hints(data), sort_keys=True)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.localdate().isoformat()}.csv"'
    return response
