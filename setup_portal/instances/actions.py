"""Every change people make to an instance: create it, provision it again, re-authenticate it,
review it, disable and enable it, rotate its secret, delete it, ask for a health check, edit it,
issue it a new instance token.

Each action is atomic, takes a keyword-only `acting_user`, and enqueues worker tasks only
once the transaction commits. Status, health and review change only through
`state.transition`, which writes the audit event; what the worker observes goes through
state.py's helpers.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from setup_portal.audit.models import AuditEvent, record
from setup_portal.azure.certificates import Certificate, CredentialKind, generate_certificate
from setup_portal.azure.client import AzureError, verify_client_secret
from setup_portal.azure.clouds import AuthType
from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.crypto import mask
from setup_portal.events.endpoints import forget_endpoint
from setup_portal.wizard.models import Setup

from . import tasks, token_reveal
from .forms import name_taken
from .instance_token import new_instance_token, token_hash, token_prefix
from .models import Instance, InstanceReview, JobStep, ProvisioningJob
from .polling_settings import keep_token_for_cleanup
from .provisioning import STEP_KEYS
from .state import InstanceStateError, transition
from .tokens import ACCESS_TOKEN_CACHE_KEY

# Disabling keeps what the instance was, so enabling can put it back.
DISABLEABLE = {Instance.Status.READY, Instance.Status.NEEDS_REAUTH, Instance.Status.FAILED}
# "Needs re-authentication" for these codes means the client secret (or certificate) was the problem.
SECRET_CODES = {"AADSTS7000222", "AADSTS7000215", "AADSTS700027"}


def _locked(instance: Instance) -> Instance:
    """Re-read the row under a lock: token refreshes lock it too, so changes never interleave."""
    return Instance.objects.select_for_update().get(pk=instance.pk)


def _new_job(instance: Instance, kind: str, acting_user) -> ProvisioningJob:
    job = ProvisioningJob.objects.create(instance=instance, kind=kind, created_by=acting_user)
    JobStep.objects.bulk_create(JobStep(job=job, key=key, position=i) for i, key in enumerate(STEP_KEYS))
    _enqueue(job)
    return job


def _enqueue(job: ProvisioningJob) -> None:
    transaction.on_commit(functools.partial(tasks.provision_instance.delay, job.pk))


# Provisioning ------------------------------------------------------------------------------------

@transaction.atomic
def do_create_instance(setup: Setup, *, name: str, tags: list[str], polling_enabled: bool,
                       polling_resources: list[str], polling_interval_minutes: int, filter_nulls: bool,
                       acting_user) -> ProvisioningJob:
    """Turn an authorized setup into an instance and start provisioning it.

    The credentials move, they are not copied: the client secret and the password leave the
    setup (its hints stay, for the pages that show which secret it was), and the sign-in's
    token cache leaves the authorization. From here on the instance holds the only copy.
    Safe against a double submit: a setup that already has an instance returns its job.
    """
    setup = Setup.objects.select_for_update().get(pk=setup.pk)
    existing = Instance.objects.filter(setup=setup).first()
    if existing is not None:
        return existing.jobs.first()
    authorization = setup.authorizations.order_by("-created_at").first()
    instance = Instance(
        name=name, tags="," + ",".join(t for t in tags if t) + "," if tags else "", setup=setup,
        owner=setup.owner, team_id=setup.team_id, use_sandbox=setup.use_sandbox, dynamics_url=setup.dynamics_url,
        region=setup.region,
        cloud=setup.cloud, tenant=setup.tenant, auth_type=setup.auth_type, client_id=setup.client_id,
        client_secret=setup.client_secret, secret_hint=setup.secret_hint,
        secret_expires_on=setup.secret_expires_on, username=setup.username, password=setup.password,
        credential_kind=setup.credential_kind, certificate_pem=setup.certificate_pem,
        certificate_key=setup.certificate_key, certificate_thumbprint=setup.certificate_thumbprint,
        polling_enabled=polling_enabled, polling_resources=list(polling_resources),
        polling_interval_minutes=polling_interval_minutes, filter_nulls=filter_nulls,
        token_cache=authorization.token_cache if authorization else "",
        access_token_expires_at=authorization.access_token_expires_at if authorization else None,
    )
    transition(instance, "instance.created", acting_user=acting_user,
               data={"setup": str(setup.pk), "auth_type": instance.auth_type, "dynamics_url": instance.dynamics_url,
                     "tags": instance.tag_list, "polling_enabled": polling_enabled},
               status=Instance.Status.PROVISIONING)
    if authorization is not None:
        authorization.instance = instance
        authorization.save(update_fields=["instance"])
    # Earlier sign-ins of the setup (an Authorize that was repeated) hold caches nobody will use.
    _erase_token_caches(setup.authorizations.all())
    setup.status = Setup.Status.COMPLETED
    setup.client_secret = setup.password = setup.certificate_key = ""
    setup.save(update_fields=["status", "client_secret", "password", "certificate_key", "updated_at"])
    return _new_job(instance, ProvisioningJob.Kind.PROVISION, acting_user)


def _erase_token_caches(authorizations) -> int:
    """Blank the token caches of these authorizations (one save each: the field encrypts on save)."""
    erased = 0
    for authorization in authorizations.exclude(token_cache=""):
        authorization.token_cache = ""
        authorization.save(update_fields=["token_cache"])
        erased += 1
    return erased


@transaction.atomic
def do_retry_job(job: ProvisioningJob, *, acting_user) -> ProvisioningJob:
    """Run a failed job again from its failed step; steps that succeeded are not redone."""
    job = ProvisioningJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ProvisioningJob.Status.FAILED:
        return job
    inst = _locked(job.instance)
    if inst.status == Instance.Status.DELETED:
        raise InstanceStateError("This instance was deleted; there is nothing to provision.")
    failed = job.steps.filter(status=JobStep.Status.FAILED).order_by("position").first()
    job.steps.filter(status__in=[JobStep.Status.FAILED, JobStep.Status.RUNNING]).update(
        status=JobStep.Status.PENDING, finished_at=None, error_code="", detail="")
    job.status = ProvisioningJob.Status.QUEUED
    job.error_code = job.error_detail = ""
    job.finished_at = None
    job.lease_owner = ""
    job.lease_expires_at = None
    job.save(update_fields=["status", "error_code", "error_detail", "finished_at", "lease_owner",
                            "lease_expires_at"])
    transition(inst, "job.retried", acting_user=acting_user,
               data={"job": job.pk, "from_step": failed.key if failed else ""},
               status=Instance.Status.PROVISIONING, status_code="", status_detail="")
    _enqueue(job)
    return job


@transaction.atomic
def do_reauthenticate_instance(instance: Instance, *, authorization: Authorization,
                               acting_user) -> ProvisioningJob:
    """Give an existing instance a new authorization (same id) and verify it in a new job.

    The new sign-in's token cache moves to the instance; earlier authorizations and jobs
    stay as history (without caches).
    """
    inst = _locked(instance)
    if inst.status == Instance.Status.DELETED:
        raise InstanceStateError("This instance was deleted; sign in for a new setup instead.")
    inst.token_cache = authorization.token_cache
    authorization.instance = inst
    authorization.token_cache = ""
    authorization.save(update_fields=["instance", "token_cache"])
    _erase_token_caches(inst.authorizations.all())
    inst.access_token_expires_at = authorization.access_token_expires_at
    inst.token_refreshed_at = timezone.now()
    transition(inst, "instance.reauthenticated", acting_user=acting_user,
               also_save=["token_cache", "access_token_expires_at", "token_refreshed_at"],
               data={"authorization": authorization.pk,
                     "signed_in_as": authorization.claims.get("preferred_username", "")},
               status=Instance.Status.PROVISIONING, status_code="", status_detail="")
    return _new_job(inst, ProvisioningJob.Kind.REAUTH, acting_user)


# Review (team leads) -------------------------------------------------------------------------------

def _review(instance: Instance, decision: str, comment: str, acting_user) -> Instance:
    inst = _locked(instance)
    if inst.status == Instance.Status.DELETED:
        raise InstanceStateError("This instance was deleted; there is nothing left to review.")
    now = timezone.now()
    # A decision closes the requests that were still open.
    inst.reviews.filter(decision=Instance.Review.CHANGES_REQUESTED, resolved_at__isnull=True).update(resolved_at=now)
    InstanceReview.objects.create(instance=inst, reviewer=acting_user, decision=decision, comment=comment,
                                  resolved_at=now if decision == Instance.Review.APPROVED else None)
    verb = "instance.approved" if decision == Instance.Review.APPROVED else "instance.changes_requested"
    transition(inst, verb, acting_user=acting_user, data={"from": inst.review_state, "comment": comment},
               review_state=decision, reviewed_by=acting_user, reviewed_at=now, review_comment=comment)
    return inst


@transaction.atomic
def do_approve_instance(instance: Instance, *, comment: str = "", acting_user) -> Instance:
    return _review(instance, Instance.Review.APPROVED, comment.strip(), acting_user)


@transaction.atomic
def do_request_changes(instance: Instance, *, comment: str, acting_user) -> Instance:
    if not comment.strip():
        raise InstanceStateError("Say what should change, so the owner knows what to do.")
    return _review(instance, Instance.Review.CHANGES_REQUESTED, comment.strip(), acting_user)


# Lifecycle (admins) --------------------------------------------------------------------------------

@transaction.atomic
def do_disable_instance(instance: Instance, *, acting_user, reason: str = "") -> Instance:
    inst = _locked(instance)
    if inst.status not in DISABLEABLE:
        raise InstanceStateError(f"An instance that is {inst.get_status_display().lower()} cannot be disabled.")
    transition(inst, "instance.disabled", acting_user=acting_user,
               data={"from": inst.status, "reason": reason.strip()}, status=Instance.Status.DISABLED)
    return inst


@transaction.atomic
def do_enable_instance(instance: Instance, *, acting_user) -> Instance:
    inst = _locked(instance)
    if inst.status != Instance.Status.DISABLED:
        raise InstanceStateError("Only a disabled instance can be enabled.")
    # Back to what it was before it was disabled (the audit trail remembers).
    last = (AuditEvent.objects.filter(verb="instance.disabled", target_type="instance", target_id=str(inst.pk))
            .order_by("-created_at", "-id").values_list("data", flat=True).first()) or {}
    restored = last.get("from")
    status = restored if restored in {s.value for s in DISABLEABLE} else Instance.Status.READY
    transition(inst, "instance.enabled", acting_user=acting_user, data={"to": status}, status=status)
    return inst


def _check_rotatable(instance: Instance) -> None:
    if instance.auth_type not in {AuthType.OAUTH2, AuthType.S2S}:
        raise InstanceStateError("This instance signs in with a user name and password; it has no client secret.")
    if instance.status in {Instance.Status.DELETED, Instance.Status.PROVISIONING}:
        raise InstanceStateError(f"An instance that is {instance.get_status_display().lower()} "
                                 "cannot have its secret rotated.")


def _verify_credential(instance: Instance, *, secret: str = "", certificate: Certificate | None = None) -> None:
    """One token request with the new secret or certificate (outside any lock: the old one keeps working)."""
    verify_client_secret(cloud=instance.cloud, tenant=instance.tenant, use_sandbox=instance.use_sandbox,
                         client_id=instance.client_id, client_secret=secret, dynamics_url=instance.dynamics_url,
                         certificate_pem=certificate.certificate_pem if certificate else "",
                         certificate_key=certificate.private_key_pem if certificate else "")


def _switch_credential(inst: Instance, verb: str, *, expires_on: dt.date | None, also_save: list[str], data: dict,
                       acting_user) -> None:
    """Save the new credential set on the locked `inst`: a fresh reminder schedule, and back to Ready when
    the old credential's refusal was the only thing wrong."""
    inst.secret_expires_on = expires_on
    # Reminders are per expiry date; a new date starts a fresh set.
    inst.reminders_sent = {}
    cleared = {}
    if inst.status_code in SECRET_CODES and inst.status == Instance.Status.NEEDS_REAUTH:
        cleared = {"status": Instance.Status.READY, "status_code": "", "status_detail": ""}
    transition(inst, verb, acting_user=acting_user, also_save=[*also_save, "secret_expires_on", "reminders_sent"],
               data={**data, "expires_on": expires_on.isoformat() if expires_on else None}, **cleared)


def do_rotate_client_secret(instance: Instance, *, new_secret: str, expires_on: dt.date | None,
                            acting_user) -> Instance:
    """Verify the new secret with a real token request, and only then switch to it.

    Raises AzureError when Azure AD refuses the new secret; the old one stays in place
    and the refusal is audited. Verification happens outside the lock: it is a network
    call, and the old secret keeps working meanwhile.
    """
    _check_rotatable(instance)
    try:
        _verify_credential(instance, secret=new_secret)
    except AzureError as exc:
        record("instance.secret_rotation_failed", instance, actor=acting_user,
               data={"error_code": exc.code, "new_hint": mask(new_secret)})
        raise
    with transaction.atomic():
        inst = _locked(instance)
        old_hint = inst.secret_hint
        inst.client_secret = new_secret
        inst.secret_hint = mask(new_secret)
        _switch_credential(inst, "instance.secret_rotated", expires_on=expires_on,
                           also_save=["client_secret", "secret_hint"],
                           data={"old_hint": old_hint, "new_hint": inst.secret_hint}, acting_user=acting_user)
    return inst


@transaction.atomic
def do_generate_next_certificate(instance: Instance, *, acting_user) -> Certificate:
    """The certificate to rotate to: kept beside the current one until it is verified and switched to."""
    _check_rotatable(instance)
    inst = _locked(instance)
    certificate = generate_certificate(f"Dynamics CRM Setup Portal {inst.name}"[:64])
    inst.next_certificate_pem = certificate.certificate_pem
    inst.next_certificate_key = certificate.private_key_pem
    inst.save(update_fields=["next_certificate_pem", "next_certificate_key", "updated_at"])
    record("instance.certificate_generated", inst, actor=acting_user,
           data={"thumbprint": certificate.thumbprint, "expires_on": certificate.expires_on.isoformat()})
    return certificate


def do_rotate_client_certificate(instance: Instance, *, certificate: Certificate, acting_user) -> Instance:
    """Verify the next certificate with a real token request, and only then switch to it (as for a secret).

    Rotating to a certificate also retires a client secret the instance had: one credential at a time.
    """
    _check_rotatable(instance)
    try:
        _verify_credential(instance, certificate=certificate)
    except AzureError as exc:
        record("instance.secret_rotation_failed", instance, actor=acting_user,
               data={"error_code": exc.code, "new_thumbprint": certificate.thumbprint})
        raise
    with transaction.atomic():
        inst = _locked(instance)
        old = inst.certificate_thumbprint or inst.secret_hint
        inst.credential_kind = CredentialKind.CERTIFICATE
        inst.certificate_pem = certificate.certificate_pem
        inst.certificate_key = certificate.private_key_pem
        inst.certificate_thumbprint = certificate.thumbprint
        inst.client_secret = inst.secret_hint = ""
        if inst.next_certificate_pem == certificate.certificate_pem:
            inst.next_certificate_pem = inst.next_certificate_key = ""
        _switch_credential(inst, "instance.certificate_rotated", expires_on=certificate.expires_on,
                           also_save=["credential_kind", "certificate_pem", "certificate_key", "certificate_thumbprint",
                                      "client_secret", "secret_hint", "next_certificate_pem", "next_certificate_key"],
                           data={"old": old, "new_thumbprint": certificate.thumbprint}, acting_user=acting_user)
    return inst


@transaction.atomic
def do_delete_instance(instance: Instance, *, acting_user) -> Instance:
    """Erase every credential the portal holds for the instance; keep the row and its audit trail.

    What can be revoked is revoked: the portal's own instance token stops working at once.
    Azure AD has no endpoint to revoke one confidential client's refresh token (only all
    sessions of the signed-in user, which would sign them out everywhere), so erasing the
    encrypted token cache is the revocation; the refresh token then expires unused.
    """
    inst = _locked(instance)
    if inst.status == Instance.Status.DELETED:
        raise InstanceStateError("This instance is already deleted.")
    before, original_name = inst.status, inst.name
    keep_token_for_cleanup(inst)  # the webhook registered in Dataverse goes too, once this commits
    # Names are unique in a team; free this one so a new instance can take it. The audit trail keeps it.
    suffix = f" (deleted {str(inst.pk)[:8]})"
    inst.name = original_name[: 100 - len(suffix)] + suffix
    inst.client_secret = inst.secret_hint = inst.password = inst.certificate_key = inst.next_certificate_key = ""
    inst.token_cache = inst.token_hash = inst.token_pending_reveal = ""
    inst.access_token_expires_at = None
    # Nothing the instance was made from keeps a credential either: its setup (from before
    # credentials moved), the sign-ins, and the requests that led to them (PKCE verifiers).
    made_from = Q(instance=inst) if inst.setup_id is None else Q(instance=inst) | Q(setup_id=inst.setup_id)
    erased = _erase_token_caches(Authorization.objects.filter(made_from))
    Setup.objects.filter(pk=inst.setup_id).update(client_secret="", password="", certificate_key="")
    flows = AuthFlow.objects.filter(made_from)
    flows.filter(consumed_at__isnull=True).update(expires_at=timezone.now())  # a late answer is refused
    flows.exclude(flow="").update(flow="")
    # Its webhook endpoint goes with its signing secrets, and the access token the instance API
    # keeps in the shared cache is erased once the delete is visible (a refresh waits for this lock).
    endpoint_erased = forget_endpoint(inst)
    transaction.on_commit(functools.partial(cache.delete, ACCESS_TOKEN_CACHE_KEY.format(inst.pk)))
    # A worker still running a job finds its lease gone and stops.
    cancelled = inst.jobs.filter(status__in=[ProvisioningJob.Status.QUEUED, ProvisioningJob.Status.RUNNING]).update(
        status=ProvisioningJob.Status.FAILED, finished_at=timezone.now(), error_code="deleted",
        error_detail="The instance was deleted.", lease_owner="", lease_expires_at=None)
    transition(inst, "instance.deleted", acting_user=acting_user,
               also_save=["name", "client_secret", "secret_hint", "password", "certificate_key",
                          "next_certificate_key", "token_cache", "token_hash",
                          "token_pending_reveal", "access_token_expires_at"],
               data={"from": before, "name": original_name,
                     "erased": ["client_secret", "password", "certificate_key", "token_cache", "instance_token"],
                     "authorizations_erased": erased, "jobs_cancelled": cancelled,
                     "webhook_endpoint_erased": endpoint_erased},
               status=Instance.Status.DELETED, status_code="",
               status_detail="Deleted: its credentials and tokens were erased.")
    return inst


@transaction.atomic
def do_request_health_check(instance: Instance, *, acting_user) -> dt.datetime:
    """Queue a health check in the worker; returns when it was asked for, to poll against."""
    if instance.status in {Instance.Status.DELETED, Instance.Status.PROVISIONING}:
        raise InstanceStateError(f"An instance that is {instance.get_status_display().lower()} cannot be checked.")
    if instance.seeded:
        raise InstanceStateError("This demo instance was made by seed_instances: its Dynamics URL is made up, "
                                 "so it is never checked against Dataverse.")
    requested_at = timezone.now()
    record("instance.health_check_requested", instance, actor=acting_user)
    instance_id, user_id = str(instance.pk), acting_user.pk
    transaction.on_commit(lambda: tasks.check_instance_health.delay(instance_id, triggered_by_id=user_id))
    return requested_at


# Edits and the instance token (admins) --------------------------------------------------------------

TRACE_LOGGING_HOURS = 24


class InstanceNameTaken(ValueError):
    """Another instance already has this name (names are unique, whatever their case)."""


@transaction.atomic
def do_update_instance(instance: Instance, *, name: str | None = None, tags: list[str] | None = None,
                       polling_enabled: bool | None = None, polling_resources: list[str] | None = None,
                       polling_interval_minutes: int | None = None, filter_nulls: bool | None = None,
                       trace_logging: bool | None = None, acting_user) -> dict[str, dict]:
    """Change what an admin may edit; None leaves a setting as it is. Returns what changed
    ({field: {"from": before, "to": after}}, also the audit event's data).

    Trace logging on records request and response bodies (redacted) for TRACE_LOGGING_HOURS,
    then switches itself off; turning it on while it is on changes nothing. An edit while a
    team lead's change request is open sends the instance back to them as resubmitted, and
    tells them by e-mail once the transaction commits.
    """
    inst = _locked(instance)
    if inst.status == Instance.Status.DELETED:
        raise InstanceStateError("This instance was deleted; it can no longer be edited.")
    now = timezone.now()
    wanted = {"name": name, "tags": _stored_tags(tags) if tags is not None else None,
              "polling_enabled": polling_enabled, "polling_resources": polling_resources,
              "polling_interval_minutes": polling_interval_minutes, "filter_nulls": filter_nulls}
    changes: dict[str, dict] = {}
    for field, value in wanted.items():
        if value is not None and getattr(inst, field) != value:
            changes[field] = {"from": getattr(inst, field), "to": value}
            setattr(inst, field, value)
    saved = list(changes)
    if trace_logging is not None and trace_logging != inst.trace_logging_on(now):
        changes["trace_logging"] = {"from": not trace_logging, "to": trace_logging}
        inst.trace_until = now + dt.timedelta(hours=TRACE_LOGGING_HOURS) if trace_logging else None
        saved.append("trace_until")
    if not changes:
        return {}
    same_name = Instance.objects.filter(team_id=inst.team_id, name__iexact=inst.name).exclude(pk=inst.pk)
    if "name" in changes and same_name.exists():
        raise InstanceNameTaken(name_taken(inst.name))
    if "tags" in changes:  # as the pages show them, not as stored
        changes["tags"] = {"from": _tag_list(changes["tags"]["from"]), "to": _tag_list(changes["tags"]["to"])}
    data = {"changes": changes}
    if "trace_logging" in changes and trace_logging:
        data["trace_until"] = inst.trace_until.isoformat()
    try:
        with transaction.atomic():  # a savepoint: a rename racing another to the same name loses cleanly
            transition(inst, "instance.updated", acting_user=acting_user, also_save=saved, data=data)
    except IntegrityError:
        raise InstanceNameTaken(name_taken(inst.name)) from None
    if inst.review_state == Instance.Review.CHANGES_REQUESTED:
        asked_by = inst.reviewed_by
        transition(inst, "instance.resubmitted", acting_user=acting_user,
                   data={"requested_by": asked_by.get_username() if asked_by else "", "changed": sorted(changes)},
                   review_state=Instance.Review.RESUBMITTED)
        if asked_by is not None:
            transaction.on_commit(functools.partial(tasks.send_resubmitted_notice.delay, str(inst.pk), changes))
    return changes


def _stored_tags(tags: list[str]) -> str:
    return "," + ",".join(t for t in tags if t) + "," if any(tags) else ""


def _tag_list(stored: str) -> list[str]:
    return [t for t in stored.split(",") if t]


@transaction.atomic
def do_issue_instance_token(instance: Instance, *, acting_user) -> str:
    """A new instance token; the old one stops working at once (the API looks tokens up by
    prefix and hash, and both change in this transaction).

    The new token is held for `acting_user` to show until they confirm they copied it or a day
    has passed (token_reveal.py); a token still held from before is replaced by it.
    """
    inst = _locked(instance)
    if inst.status == Instance.Status.DELETED:
        raise InstanceStateError("This instance was deleted; it takes no token.")
    old_prefix = inst.token_prefix if inst.token_hash else ""
    token = new_instance_token()
    inst.token_hash = token_hash(token)
    inst.token_prefix = token_prefix(token)
    held = token_reveal.hold(inst, token, issued_to=acting_user)
    transition(inst, "instance.token_issued", acting_user=acting_user,
               also_save=["token_hash", "token_prefix", *held],
               data={"old_prefix": old_prefix, "new_prefix": inst.token_prefix})
    return token
