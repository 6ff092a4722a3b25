"""Which audit events a user sees: the query next to the AuditEvent model; the rule it applies
is in setup_portal.teams.permissions."""

from __future__ import annotations

from django.db.models import QuerySet

from setup_portal.teams.permissions import team_scope

from .models import AuditEvent


def visible_audit_events(user) -> QuerySet[AuditEvent]:
    """Portal administrators: everything; others: the events of their teams' setups and
    instances (and teams). Events with no team (users, API keys) are the portal administrators'."""
    return AuditEvent.objects.filter(team_scope(user))
