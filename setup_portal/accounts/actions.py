"""Account actions: creating users with roles and bootstrapping the first admin."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from setup_portal.audit.models import record

from . import roles


@transaction.atomic
def do_create_user(username: str, *, role: str | None, email: str = "", password: str | None = None,
                   acting_user=None) -> tuple[object, str]:
    """Create a user with a role; returns (user, password). A password is generated when none is given."""
    password = password or secrets.token_urlsafe(12)
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    roles.set_role(user, role)
    record("user.created", user, actor=acting_user, data={"role": role or "none", "email": email})
    return user, password


@transaction.atomic
def do_change_role(user, role: str | None, *, acting_user) -> None:
    before = roles.role_label(user)
    roles.set_role(user, role)
    record("user.role_changed", user, actor=acting_user, data={"from": before, "to": roles.role_label(user)})


def do_bootstrap_first_admin(username: str = "admin") -> tuple[object, str] | None:
    """When no user exists, create the first admin; returns (user, password) once, else None."""
    roles.ensure_roles()
    if get_user_model().objects.exists():
        return None
    return do_create_user(username, role="admin", email=f"{username}@localhost")
