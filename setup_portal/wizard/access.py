"""Which setups a user sees, and one setup fetched for a user: the queries next to the Setup
model; the rules they apply are in setup_portal.teams.permissions."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

from setup_portal.teams.permissions import can_view_setup, team_scope, visible_or_404

from .models import Setup


def visible_setups(user) -> QuerySet[Setup]:
    """Portal administrators: every setup; others: their teams' (any role)."""
    return Setup.objects.filter(team_scope(user))


def setup_for(user, setup_id, allowed: Callable[..., bool] = can_view_setup, *, rows=None) -> Setup:
    """The setup with this id if `user` may see it (else 404) and `allowed` (else 403)."""
    base = rows if rows is not None else Setup.objects.all()
    return visible_or_404(user, base.filter(team_scope(user)), setup_id, allowed)
