"""A ModelAdmin for Instance with the dashboard's columns, filters, search and page size: what
Django's own changelist costs for the same list (bench/dashboard_scale.py compares the two)."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.utils import timezone

from setup_portal.dashboard.filters import API_CALLS_WINDOW, SECRET_CHOICES, api_calls_since
from setup_portal.instances.models import Instance

TAGS = ["sales", "service", "marketing", "finance", "emea", "apac", "americas", "pilot", "production", "staging"]


class TagFilter(admin.SimpleListFilter):
    title, parameter_name = "tag", "tag"

    def lookups(self, request, model_admin):
        return [(t, t) for t in TAGS]

    def queryset(self, request, queryset):
        return queryset.filter(tags__contains=f",{self.value()},") if self.value() else queryset


class SecretFilter(admin.SimpleListFilter):
    title, parameter_name = "client secret", "secret"

    def lookups(self, request, model_admin):
        return SECRET_CHOICES[1:]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        days = {"soon": 30, "week": 7}
        if self.value() in days:
            return queryset.filter(secret_expires_on__lte=today + dt.timedelta(days=days[self.value()]))
        if self.value() == "expired":
            return queryset.filter(secret_expires_on__lt=today)
        return queryset


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ["name", "dynamics_url", "tags", "auth_type", "status", "review_state", "health",
                    "health_checked_at", "owner", "created_at", "access_token_expires_at", "secret_expires_on",
                    "api_calls"]
    list_filter = ["status", "review_state", "health", TagFilter, "owner", SecretFilter, "team"]
    search_fields = ["name", "dynamics_url", "tenant", "client_id", "organization_name", "owner__username", "tags",
                     "region"]
    list_per_page = 50
    list_select_related = ["owner"]
    ordering = ["-created_at"]

    def get_queryset(self, request):
        since = timezone.now() - API_CALLS_WINDOW
        return super().get_queryset(request).annotate(api_calls_24h=api_calls_since(since))

    @admin.display(ordering="api_calls_24h", description="API calls (24h)")
    def api_calls(self, obj) -> int:
        return obj.api_calls_24h
