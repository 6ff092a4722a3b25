"""Account actions: creating users with roles and bootstrapping the first admin."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.validators import validate_email
from django.db import transaction

from setup_portal.audit.models import record

from . import roles


def validate_new_password(password: str, *, username: str, email: str = "") -> None:
    """Django's validators, with the user's own name and address to compare against
    (`<name>2026` is refused). Raises ValidationError."""
    validate_password(password, user=get_user_model()(username=username, email=email))


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


def do_bootstrap_first_admin(username: str, *, email: str) -> tuple[object, str] | None:
    """When no user exists, create the first admin; returns (user, password) once, else None.
    Raises ValidationError for a malformed address: password resets go there."""
    roles.ensure_roles()
    if get_user_model().objects.exists():
        return None
    validate_email(email)
    user, password = do_create_user(username, role="admin", email=email)
    roles.set_portal_admin(user)
    return user, password


@transaction.atomic
def do_set_new_password(user, *, acting_user) -> str:
    """An admin gives a user a new generated password (when password reset by e-mail is off,
    this is the way back in); returns it once. The user's sessions end with the old password."""
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    record("user.password_set", user, actor=acting_user)
    return password
