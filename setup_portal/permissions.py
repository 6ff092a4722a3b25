"""Who may do what with an instance or a setup: the one place that decides.

The rule today: admins and team leads see every instance; any admin may change any
instance (rotate its secret, disable, enable, delete it, test its connection), whoever
created it; only team leads review; a setup is edited by the admin who started it, while
it is a draft. Views ask these functions (through `check`) before they act, so narrowing
a rule (to a team's members, say) happens here, and the pages follow.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied

from setup_portal.accounts.roles import can_review, is_admin, is_team_lead
from setup_portal.instances.models import Instance
from setup_portal.wizard.models import Setup


def can_view_instance(user, instance: Instance) -> bool:
    return can_review(user)


def can_change_instance(user, instance: Instance) -> bool:
    return is_admin(user)


def can_review_instance(user, instance: Instance) -> bool:
    # Admins provision, so they do not approve their own work.
    return is_team_lead(user)


def can_view_setup(user, setup: Setup) -> bool:
    return can_review(user)


def can_edit_setup(user, setup: Setup) -> bool:
    return is_admin(user) and setup.owner_id == user.pk and setup.status == Setup.Status.DRAFT


# What a refusal says, per rule: shown on the 403 page.
REASONS: dict[Callable, str] = {
    can_view_instance: "This page is for admins and team leads.",
    can_change_instance: "This page is for admins.",
    can_review_instance: "Only team leads review instances.",
    can_view_setup: "This page is for admins and team leads.",
    can_edit_setup: "This draft is read-only for you.",
}


def check(allowed: Callable[..., bool], user, target) -> None:
    """Raise PermissionDenied with the rule's reason unless `allowed(user, target)`."""
    if not allowed(user, target):
        raise PermissionDenied(REASONS[allowed])
