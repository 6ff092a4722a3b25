"""Notifications: a row per person (the bell in the portal's header) and an e-mail.

Sent when an instance needs re-authentication, fails its health check, or its webhook endpoint
is disabled — each with a link to the page where it is fixed — and, to its team's team leads,
when an instance waits for their review. An unread notification that says
the same thing about the same instance is not repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string

from setup_portal import permissions

from .models import Notification

log = logging.getLogger(__name__)


def recipients(instance) -> list:
    """Who hears about an instance: its owner and its team's team leads, active ones only."""
    return permissions.people_to_tell(instance)


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


def notifications_of(user) -> QuerySet[Notification]:
    """The user's notifications, less those about instances of teams they no longer belong to."""
    rows = Notification.objects.filter(user=user) if user.is_authenticated else Notification.objects.none()
    scope = permissions.team_scope(user, "instance__team_id")
    return rows.filter(Q(instance__isnull=True) | scope) if scope else rows


def unread_count(user) -> int:
    return notifications_of(user).filter(read_at=None).count()
