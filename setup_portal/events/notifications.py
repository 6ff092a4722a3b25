"""Notifications: a bell entry per person, instance and kind (the portal's header), and e-mail.

Sent when an instance needs re-authentication, fails its health check, or its webhook endpoint
is disabled — each with a link to the page where it is fixed — to its team's team leads when an
instance waits for their review, and to its owner when a team lead asks for changes.

What people can live with:
- A repeat (the same kind, the same instance) folds into the person's entry: its count goes up,
  it shows the latest message and is unread again. Reading it starts the count afresh.
- E-mail: the first of a kind goes at once; whatever of that kind follows within DIGEST_EVERY
  waits, and goes as one digest when the hour is up (send_digests, on beat). So a person gets at
  most one e-mail an hour per kind, however many instances fail. Read in the portal first, an
  entry is not e-mailed at all.
- Nobody hears about an instance they muted, nor about seeded demo instances (seed_instances).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.template.loader import render_to_string
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.teams import permissions

from .models import InstanceMute, Notification, NotificationMail

log = logging.getLogger(__name__)

DIGEST_EVERY = dt.timedelta(hours=1)


def recipients(instance) -> list:
    """Who hears about an instance: its owner and its team's team leads, active ones only."""
    return permissions.people_to_tell(instance)


def notify(users: Iterable, *, instance, kind: str, message: str, link: str, detail: str = "") -> list[Notification]:
    """Fold this into each user's entry for (instance, kind), or start one; e-mail once the
    transaction commits, as far as the hourly budget allows. Returns the entries touched."""
    if instance.seeded:
        return []
    people = {u.pk: u for u in users}
    muted = set(InstanceMute.objects.filter(instance=instance, user_id__in=people).values_list("user_id", flat=True))
    now = timezone.now()
    values = {"message": message[:500], "link": link[:500], "detail": detail}
    touched = [_fold(user_id, instance, kind, values, now) for user_id in people if user_id not in muted]
    if touched:
        transaction.on_commit(functools.partial(_mail_each, [note.user_id for note in touched], kind))
    return touched


def _mail_each(user_ids: list[int], kind: str) -> None:
    for user_id in user_ids:
        mail_due(user_id, kind)


def _fold(user_id: int, instance, kind: str, values: dict, now: dt.datetime) -> Notification:
    entry = Notification.objects.filter(user_id=user_id, instance=instance, kind=kind)
    # In SQL every SET reads the row as it was: an entry read before starts counting at 1 again.
    repeat = {**values, "latest_at": now, "read_at": None, "unmailed": F("unmailed") + 1,
              "count": Case(When(read_at__isnull=True, then=F("count") + 1), default=Value(1))}
    if not entry.update(**repeat):
        try:
            with transaction.atomic():  # a savepoint: another process may start the entry first
                return Notification.objects.create(user_id=user_id, instance=instance, kind=kind, count=1,
                                                   unmailed=1, latest_at=now, **values)
        except IntegrityError:
            entry.update(**repeat)
    return entry.get()


def mail_due(user_id: int, kind: str) -> bool:
    """E-mail this person what they have not read nor been e-mailed of this kind, unless they were
    e-mailed about it less than DIGEST_EVERY ago (then the digest beat sends it later). True if sent.

    Entries about instances of teams they have left meanwhile are dropped, not sent."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    now = timezone.now()
    with transaction.atomic():
        clock, _ = NotificationMail.objects.select_for_update().get_or_create(user=user, kind=kind)
        if clock.sent_at is not None and clock.sent_at > now - DIGEST_EVERY:
            return False
        pending = unmailed().filter(user=user, kind=kind)
        entries = list((pending & notifications_of(user)).select_for_update(of=("self",))
                       .select_related("instance").order_by("-latest_at", "-id"))
        pending.update(unmailed=0)
        if not entries:
            return False
        clock.sent_at = now
        clock.save(update_fields=["sent_at"])
    _send(user, entries)
    return True


def unmailed() -> QuerySet[Notification]:
    """Entries with something not e-mailed yet that their person has not read in the portal."""
    return Notification.objects.filter(unmailed__gt=0, read_at=None)


def send_digests() -> int:
    """Beat: e-mail each person whose hour is up what waited for it, one e-mail per kind."""
    waiting = set(unmailed().values_list("user_id", "kind").distinct())
    return sum(1 for user_id, kind in sorted(waiting) if mail_due(user_id, kind))


def _send(user, entries: list[Notification]) -> None:
    if not user.email:
        return
    context = {"note": entries[0], "notes": entries, "user": user, "base_url": settings.PORTAL_BASE_URL,
               "url": settings.PORTAL_BASE_URL + entries[0].link, "kind_label": entries[0].kind_label}
    name = "notification" if len(entries) == 1 else "digest"
    try:
        send_mail(render_to_string(f"events/email/{name}_subject.txt", context).strip(),
                  render_to_string(f"events/email/{name}.txt", context),
                  settings.DEFAULT_FROM_EMAIL, [user.email])
    except OSError:
        # The entries (and the bell) still tell them; a mail server down must not undo the change.
        log.warning("Could not e-mail %d notification(s) to user %s", len(entries), user.pk)


def notifications_of(user) -> QuerySet[Notification]:
    """The user's entries, less those about instances of teams they no longer belong to."""
    rows = Notification.objects.filter(user=user) if user.is_authenticated else Notification.objects.none()
    scope = permissions.team_scope(user, "instance__team_id")
    return rows.filter(Q(instance__isnull=True) | scope) if scope else rows


def unread_count(user) -> int:
    return notifications_of(user).filter(read_at=None).count()


def mark_read(rows: QuerySet[Notification]) -> int:
    """Mark these entries read (nothing of them is e-mailed any more); returns how many were unread."""
    return rows.filter(read_at=None).update(read_at=timezone.now(), unmailed=0)


def is_muted(user, instance) -> bool:
    return InstanceMute.objects.filter(user=user, instance=instance).exists()


def muted_instances(user) -> QuerySet[InstanceMute]:
    return InstanceMute.objects.filter(user=user).select_related("instance").order_by("instance__name")


@transaction.atomic
def do_mute_instance(instance, *, acting_user) -> bool:
    """The person hears nothing more about the instance; what they had unread about it is read.
    False when it was muted already."""
    _, created = InstanceMute.objects.get_or_create(user=acting_user, instance=instance)
    mark_read(Notification.objects.filter(user=acting_user, instance=instance))
    if created:
        record("instance.notifications_muted", instance, actor=acting_user)
    return created


@transaction.atomic
def do_unmute_instance(instance, *, acting_user) -> bool:
    deleted, _ = InstanceMute.objects.filter(user=acting_user, instance=instance).delete()
    if deleted:
        record("instance.notifications_unmuted", instance, actor=acting_user)
    return bool(deleted)
