"""Notifications: a row per person (the bell in the portal's header) and an e-mail.

Sent when an instance needs re-authentication, fails its health check, or its webhook endpoint
is disabled — each with a link to the page where it is fixed. An unread notification that says
the same thing about the same instance is not repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from setup_portal.accounts.roles import TEAM_LEAD

from .models import Notification

log = logging.getLogger(__name__)


def recipients(instance) -> list:
    """Who hears about an instance: its owner and the team leads, active ones only."""
    User = get_user_model()  # noqa: N806
    people = User.objects.filter(is_active=True).filter(pk=instance.owner_id) | User.objects.filter(
        is_active=True, groups__name=TEAM_LEAD)
    return list(people.distinct().order_by("pk"))


def notify(users: Iterable, *, instance, kind: str, message: str, link: str) -> list[Notification]:
    """Create a Notification for each user and send each an e-mail once the transaction commits."""
    made = []
    for user in {u.pk: u for u in users}.values():
        if Notification.objects.filter(user=user, instance=instance, kind=kind, message=message[:500],
                                       read_at=None).exists():
            continue
        made.append(Notification.objects.create(user=user, instance=instance, kind=kind, message=message[:500],
                                                link=link[:500]))
    if made:
        ids = [n.pk for n in made]
        transaction.on_commit(lambda: _mail(ids))
    return made


def _mail(notification_ids: list[int]) -> None:
    for note in Notification.objects.filter(pk__in=notification_ids).select_related("user", "instance"):
        if not note.user.email:
            continue
        context = {"note": note, "user": note.user, "url": settings.PORTAL_BASE_URL + note.link}
        try:
            send_mail(render_to_string("events/email/notification_subject.txt", context).strip(),
                      render_to_string("events/email/notification.txt", context),
                      settings.DEFAULT_FROM_EMAIL, [note.user.email])
        except OSError:
            # The row (and the bell) still tell them; a mail server down must not undo the change.
            log.warning("Could not e-mail notification %s to user %s", note.pk, note.user_id)


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at=None).count()
