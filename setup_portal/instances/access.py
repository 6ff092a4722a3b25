"""Which instances a user sees, and one instance fetched for a user: the queries next to the
Instance model; the rules they apply are in setup_portal.teams.permissions."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

from setup_portal.teams.permissions import can_view_instance, team_scope, visible_or_404

from .models import Instance


def visible_instances(user) -> QuerySet[Instance]:
    """Portal administrators: every instance; others: their teams' (any role)."""
    return Instance.objects.filter(team_scope(user))


def instance_for(user, instance_id, allowed: Callable[..., bool] = can_view_instance, *, rows=None) -> Instance:
    """The instance with this id if `user` may see it (else 404) and `allowed` (else 403).
    `rows` narrows or prepares the queryset (select_related, excluding deleted ones)."""
    base = rows if rows is not None else Instance.objects.all()
    return visible_or_404(user, base.filter(team_scope(user)), instance_id, allowed)
