"""A new instance token, kept encrypted so whoever issued it can still show it until they have copied it.

Provisioning (state.mark_ready) and "Issue a new instance token" (actions.do_issue_instance_token)
`hold()` the new token for the person who made it: the one who started the setup, or the one who
issued the new token. Pages never render it by default; that person asks for it ("Show token", a
POST answered with `Cache-Control: no-store`), as often as they need, so no re-rendering of a page
or of the progress stream can use it up. It is erased when they confirm "I have copied it", when
REVEAL_HOURS have passed (beat's sweep, and any request after that moment), when a newer token
replaces it, or when the instance is deleted. Every showing, confirmation and expiry is audited.

The management API hands a job's token over once, in the job's own answer, to the API key that
started the job (`do_hand_over_token`); the person can still show it on the pages afterwards, within
the same limits, in case the script lost it.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from setup_portal.audit.models import record

from .models import Instance, ProvisioningJob

REVEAL_HOURS = 24
FIELDS = ["token_pending_reveal", "token_reveal_to", "token_reveal_until"]


def hold(inst: Instance, token: str, *, issued_to) -> list[str]:
    """Keep `token` on `inst` (not saved) for `issued_to` (a user or a user id) to show for
    REVEAL_HOURS; returns the fields set, for the caller's save."""
    inst.token_pending_reveal = token
    inst.token_reveal_to_id = getattr(issued_to, "pk", issued_to)
    inst.token_reveal_until = timezone.now() + dt.timedelta(hours=REVEAL_HOURS)
    return FIELDS


def _forget(inst: Instance) -> None:
    inst.token_pending_reveal = ""
    inst.token_reveal_to = None
    inst.token_reveal_until = None
    inst.save(update_fields=FIELDS)


def waiting_for(inst: Instance, user, now: dt.datetime | None = None) -> bool:
    """Whether `user` may show `inst`'s new token now."""
    return (bool(user.is_authenticated) and inst.token_reveal_to_id == user.pk
            and inst.token_reveal_until is not None and inst.token_reveal_until > (now or timezone.now())
            and inst.status != Instance.Status.DELETED and bool(inst.token_pending_reveal))


def _locked(instance_id) -> Instance | None:
    return Instance.objects.select_for_update().filter(pk=instance_id).first()


def _expire(inst: Instance, now: dt.datetime) -> bool:
    """Erase the held token if its time is up; True if it was."""
    if inst.token_reveal_until is None or inst.token_reveal_until > now:
        return False
    if inst.token_pending_reveal:
        record("instance.token_reveal_expired", inst, actor=None,
               data={"prefix": inst.token_prefix, "hours": REVEAL_HOURS})
    _forget(inst)
    return True


@transaction.atomic
def do_reveal_instance_token(instance: Instance, *, acting_user) -> str | None:
    """The held token, for the person it is held for; None when there is none for them (never
    held, confirmed, replaced, or expired: an expired one is erased here)."""
    inst = _locked(instance.pk)
    now = timezone.now()
    if inst is None or _expire(inst, now) or not waiting_for(inst, acting_user, now):
        return None
    record("instance.token_revealed", inst, actor=acting_user,
           data={"prefix": inst.token_prefix, "until": inst.token_reveal_until.isoformat()})
    instance.token_reveal_until = inst.token_reveal_until
    return str(inst.token_pending_reveal)


@transaction.atomic
def do_confirm_instance_token(instance: Instance, *, acting_user) -> bool:
    """"I have copied it": the held token is erased. False when nothing was held for them."""
    inst = _locked(instance.pk)
    now = timezone.now()
    if inst is None or _expire(inst, now) or not waiting_for(inst, acting_user, now):
        return False
    _forget(inst)
    record("instance.token_confirmed", inst, actor=acting_user, data={"prefix": inst.token_prefix})
    return True


@transaction.atomic
def do_hand_over_token(job_id: int, *, api_key_prefix: str, acting_user) -> str | None:
    """The token job `job_id` issued, once, to the API key that started the job; None otherwise
    (another key, not finished, already handed over, or the token is no longer held)."""
    job = (ProvisioningJob.objects.select_for_update()
           .filter(pk=job_id, status=ProvisioningJob.Status.SUCCEEDED, token_handed_over_at__isnull=True,
                   api_key_prefix=api_key_prefix).exclude(api_key_prefix="").exclude(issued_token_prefix="")
           .first())
    if job is None:
        return None
    inst = _locked(job.instance_id)
    now = timezone.now()
    if (inst is None or _expire(inst, now) or not inst.token_pending_reveal
            or inst.status == Instance.Status.DELETED or inst.token_prefix != job.issued_token_prefix):
        return None
    job.token_handed_over_at = now
    job.save(update_fields=["token_handed_over_at"])
    record("instance.token_handed_over", inst, actor=acting_user,
           data={"prefix": inst.token_prefix, "job": job.pk, "api_key": f"dcp_{api_key_prefix}"})
    return str(inst.token_pending_reveal)


def erase_expired(now: dt.datetime | None = None) -> int:
    """Erase every held token whose time is up (beat runs this); returns how many."""
    now = now or timezone.now()
    erased = 0
    for instance_id in Instance.objects.filter(token_reveal_until__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            inst = _locked(instance_id)
            erased += inst is not None and _expire(inst, now)
    return erased
