"""The one owner of an instance's state: its status, its health and its review.

`transition()` is the only code that writes those fields (tests/instances/test_state.py
reads the code base to keep it so). It saves them together with whatever else the same
change touches, and writes the change's audit event, inside the caller's transaction on
a row the caller has locked. The user-facing actions (actions.py) call it; the worker
reports what it observed through the helpers below (a job finished or failed, Azure AD
wants a new sign-in, a health check answered), which call it too. So whatever must follow
every change of status, health or review (counters, notifications) belongs in transition().

The dashboard's counters (stats/counters.py) also count tags, the secret's expiry date, the
team and the owner: a change of those goes through transition() too, named in `also_save`, so
the counters move in the same transaction (tests/stats/test_writers.py keeps it so).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.azure.errors import explain, reauthentication_code
from setup_portal.stats import counters

from . import lifecycle, token_reveal
from .instance_token import new_instance_token, token_hash, token_prefix
from .models import HealthCheck, Instance, ProvisioningJob

STATUS_FIELDS = ("status", "status_code", "status_detail", "ready_at")
HEALTH_FIELDS = ("health", "health_checked_at", "health_detail")
REVIEW_FIELDS = ("review_state", "reviewed_by", "reviewed_at", "review_comment")
STATE_FIELDS = frozenset(STATUS_FIELDS + HEALTH_FIELDS + REVIEW_FIELDS)

# Where Azure AD's "sign in again" does not apply: nothing runs, or someone already has to act.
_REAUTH_IGNORED = {Instance.Status.DISABLED, Instance.Status.DELETED, Instance.Status.NEEDS_REAUTH}


class InstanceStateError(Exception):
    """The change does not apply to the instance in its current state; the message says why."""


def locked(instance_id) -> Instance | None:
    """The row re-read under a lock (token refreshes lock it too, so changes never interleave); None if gone."""
    return Instance.objects.select_for_update().filter(pk=instance_id).first()


def transition(inst: Instance, verb: str | None, *, acting_user, data: dict | None = None,
               also_save: Iterable[str] = (), **state) -> None:
    """Set `state` (fields of STATE_FIELDS only) on `inst`, save, and record the audit event `verb`.

    `inst` is locked by the caller's transaction, or new (not saved yet: it is inserted with
    its first status). `also_save` names other fields the caller changed on `inst` as part of
    the same change (the credentials a delete erases, the token cache of a new sign-in).
    `verb` is None only when nothing a person would look for changed (a health check that
    found what the last one found: its HealthCheck row is the record).
    """
    unknown = set(state) - STATE_FIELDS
    if unknown:
        raise ValueError(f"Not instance state: {sorted(unknown)}")
    adding = inst._state.adding
    if not adding and inst.status == Instance.Status.DELETED and state:
        raise InstanceStateError("This instance was deleted; its state no longer changes.")
    before = lifecycle.snapshot(inst)
    counted_before = None if adding else _counted_before(inst, also_save)
    for field, value in state.items():
        setattr(inst, field, value)
    if adding:
        inst.save(force_insert=True)
    else:
        inst.save(update_fields=[*state, *also_save, "updated_at"])
    counters.apply(counters.delta(counted_before, counters.snapshot(inst)))
    if verb is not None:
        record(verb, inst, actor=acting_user, data=data or {})
    lifecycle.on_transition(inst, before, data=data)  # instance.* events (webhooks, notifications)


def _counted_before(inst: Instance, also_save: Iterable[str]) -> dict:
    """The counted values of `inst` as stored: its state fields are still unchanged in memory (only
    transition() sets them), but a counted field in `also_save` (tags, secret expiry, team, owner)
    was already changed by the caller, so those are read back from the row the caller locked."""
    before = counters.snapshot(inst)
    changed = {Instance._meta.get_field(name).attname for name in also_save} & set(counters.ROW_FIELDS)
    if changed:
        before.update(Instance.objects.filter(pk=inst.pk).values(*changed).get())
    return before


# What the worker observed --------------------------------------------------------------------------

def record_identity(inst: Instance, *, user_id: str, business_unit_id: str, organization_id: str) -> None:
    """What WhoAmI answered while provisioning: the Dataverse user the portal signs in as, its business
    unit and organization (not state: no transition, no event)."""
    Instance.objects.filter(pk=inst.pk).update(dataverse_user_id=user_id, business_unit_id=business_unit_id,
                                               organization_id=organization_id, updated_at=timezone.now())
    inst.dataverse_user_id, inst.business_unit_id, inst.organization_id = user_id, business_unit_id, organization_id


def record_organization(inst: Instance, *, name: str, version: str, environment_type: str = "") -> None:
    """The organization's name, version and type as Dataverse reported them while provisioning."""
    Instance.objects.filter(pk=inst.pk).update(organization_name=name, organization_version=version,
                                               environment_type=environment_type, updated_at=timezone.now())
    inst.organization_name, inst.organization_version = name, version
    inst.environment_type = environment_type


@transaction.atomic
def mark_ready(job: ProvisioningJob, *, acting_user) -> Instance | None:
    """Every step of `job` passed: the instance is Ready, with an instance token if it has none yet
    (held for the job's starter to show: token_reveal.py).

    A job that finishes after its instance was deleted changes nothing.
    """
    inst = locked(job.instance_id)
    if inst is None or inst.status == Instance.Status.DELETED:
        return None
    now = timezone.now()
    issued = []
    if not inst.token_hash:
        token = new_instance_token()
        inst.token_hash = token_hash(token)
        inst.token_prefix = token_prefix(token)
        issued = ["token_hash", "token_prefix",
                  *token_reveal.hold(inst, token, issued_to=job.created_by_id or inst.owner_id)]
        job.issued_token_prefix = inst.token_prefix
        ProvisioningJob.objects.filter(pk=job.pk).update(issued_token_prefix=inst.token_prefix)
    transition(inst, "instance.ready", acting_user=acting_user, also_save=issued,
               data={"job": job.pk, "kind": job.kind, "seconds": round((now - job.created_at).total_seconds(), 3),
                     "organization": inst.organization_name},
               status=Instance.Status.READY, status_code="", status_detail="", ready_at=inst.ready_at or now)
    return inst


@transaction.atomic
def mark_provisioning_failed(job: ProvisioningJob, *, step: str, step_label: str, error_code: str, detail: str,
                             acting_user) -> Instance | None:
    """A step of `job` failed for good: Needs re-authentication when the catalogue says a new
    sign-in fixes `error_code`, Failed otherwise, with the reason in plain words."""
    inst = locked(job.instance_id)
    if inst is None or inst.status == Instance.Status.DELETED:
        return None
    reauth = reauthentication_code(error_code, detail)
    code = reauth or error_code
    transition(inst, "instance.provisioning_failed", acting_user=acting_user,
               data={"job": job.pk, "step": step, "error_code": error_code},
               status=Instance.Status.NEEDS_REAUTH if reauth else Instance.Status.FAILED, status_code=code[:32],
               status_detail=f"{step_label}: {explain(code).title}. {detail}"[:1000])
    return inst


def _needs_reauth(inst: Instance, code: str, *, acting_user) -> bool:
    if inst.status in _REAUTH_IGNORED:
        return False
    explanation = explain(code)
    before = inst.status
    transition(inst, "instance.status_changed", acting_user=acting_user,
               data={"from": before, "to": Instance.Status.NEEDS_REAUTH, "error_code": code,
                     "reason": explanation.title},
               status=Instance.Status.NEEDS_REAUTH, status_code=code[:32],
               status_detail=f"{explanation.what_happened} {explanation.what_to_do}".strip())
    return True


@transaction.atomic
def mark_needs_reauth(instance_id, *, code: str, acting_user) -> bool:
    """Azure AD refused the saved sign-in with `code`: "Needs re-authentication" with the reason
    in plain words. False when the instance is gone, disabled, deleted, or already there."""
    inst = locked(instance_id)
    return inst is not None and _needs_reauth(inst, code, acting_user=acting_user)


@transaction.atomic
def record_health_check(instance_id, *, ok: bool, detail: str, error_code: str = "", duration_ms: int | None,
                        acting_user) -> HealthCheck | None:
    """Keep one check's result (HealthCheck) and move the instance's health with it.

    A passing check also clears "Needs re-authentication" (someone signed in again or rotated
    the secret elsewhere); a failing one whose `error_code` the catalogue answers with "sign in
    again" sets it. `acting_user` asked for the check; None when keep-alive or provisioning did.
    """
    inst = locked(instance_id)
    if inst is None or inst.status == Instance.Status.DELETED:
        return None
    check = HealthCheck.objects.create(instance=inst, ok=ok, detail=detail[:300], error_code=error_code[:32],
                                       duration_ms=duration_ms, triggered_by=acting_user)
    before = inst.health
    health = Instance.Health.HEALTHY if ok else Instance.Health.FAILING
    transition(inst, "instance.health_changed" if health != before else None, acting_user=acting_user,
               data={"from": before, "to": health, "error_code": error_code},
               health=health, health_checked_at=check.checked_at, health_detail=detail[:300])
    if ok and inst.status == Instance.Status.NEEDS_REAUTH:
        transition(inst, "instance.status_changed", acting_user=acting_user,
                   data={"from": Instance.Status.NEEDS_REAUTH, "to": Instance.Status.READY},
                   status=Instance.Status.READY, status_code="", status_detail="")
    reauth = None if ok else reauthentication_code(error_code)
    if reauth:
        _needs_reauth(inst, reauth, acting_user=acting_user)
    return check
