"""Actions that create an instance, retry its provisioning and re-authenticate it.

Each is atomic, audited, and enqueues the worker only once the transaction commits.
"""

from __future__ import annotations

import functools

from django.db import transaction
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.azure.models import Authorization
from setup_portal.wizard.models import Setup

from .models import Instance, JobStep, ProvisioningJob
from .provisioning import STEP_KEYS


def _enqueue(job: ProvisioningJob) -> None:
    from .tasks import provision_instance

    transaction.on_commit(functools.partial(provision_instance.delay, job.pk))


def _new_job(instance: Instance, kind: str, acting_user) -> ProvisioningJob:
    job = ProvisioningJob.objects.create(instance=instance, kind=kind, created_by=acting_user)
    JobStep.objects.bulk_create(JobStep(job=job, key=key, position=i) for i, key in enumerate(STEP_KEYS))
    _enqueue(job)
    return job


@transaction.atomic
def do_create_instance(setup: Setup, *, name: str, tags: list[str], polling_enabled: bool,
                       polling_resources: list[str], polling_interval_minutes: int, filter_nulls: bool,
                       acting_user) -> ProvisioningJob:
    """Turn an authorized setup into an instance and start provisioning it.

    Safe against a double submit: a setup that already has an instance returns its job.
    """
    setup = Setup.objects.select_for_update().get(pk=setup.pk)
    existing = Instance.objects.filter(setup=setup).first()
    if existing is not None:
        return existing.jobs.first()
    authorization = setup.authorizations.order_by("-created_at").first()
    instance = Instance.objects.create(
        name=name, tags="," + ",".join(t for t in tags if t) + "," if tags else "", setup=setup,
        owner=setup.owner, use_sandbox=setup.use_sandbox, dynamics_url=setup.dynamics_url, region=setup.region,
        cloud=setup.cloud, tenant=setup.tenant, auth_type=setup.auth_type, client_id=setup.client_id,
        client_secret=setup.client_secret, secret_hint=setup.secret_hint,
        secret_expires_on=setup.secret_expires_on, username=setup.username, password=setup.password,
        polling_enabled=polling_enabled, polling_resources=list(polling_resources),
        polling_interval_minutes=polling_interval_minutes, filter_nulls=filter_nulls,
        status=Instance.Status.PROVISIONING,
        token_cache=authorization.token_cache if authorization else "",
        access_token_expires_at=authorization.access_token_expires_at if authorization else None,
    )
    if authorization is not None:
        authorization.instance = instance
        authorization.save(update_fields=["instance"])
    setup.status = Setup.Status.COMPLETED
    setup.save(update_fields=["status", "updated_at"])
    record("instance.created", instance, actor=acting_user,
           data={"setup": str(setup.pk), "auth_type": instance.auth_type, "dynamics_url": instance.dynamics_url,
                 "tags": instance.tag_list, "polling_enabled": polling_enabled})
    return _new_job(instance, ProvisioningJob.Kind.PROVISION, acting_user)


@transaction.atomic
def do_retry_job(job: ProvisioningJob, *, acting_user) -> ProvisioningJob:
    """Run a failed job again from its failed step; steps that succeeded are not redone."""
    job = ProvisioningJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ProvisioningJob.Status.FAILED:
        return job
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
    Instance.objects.filter(pk=job.instance_id).update(status=Instance.Status.PROVISIONING, status_code="",
                                                       status_detail="", updated_at=timezone.now())
    record("job.retried", job.instance, actor=acting_user,
           data={"job": job.pk, "from_step": failed.key if failed else ""})
    _enqueue(job)
    return job


@transaction.atomic
def do_reauthenticate_instance(instance: Instance, *, authorization: Authorization,
                               acting_user) -> ProvisioningJob:
    """Give an existing instance a new authorization (same id) and verify it in a new job.

    Earlier authorizations and jobs stay as history.
    """
    instance = Instance.objects.select_for_update().get(pk=instance.pk)
    authorization.instance = instance
    authorization.save(update_fields=["instance"])
    instance.token_cache = authorization.token_cache
    instance.access_token_expires_at = authorization.access_token_expires_at
    instance.token_refreshed_at = timezone.now()
    instance.status = Instance.Status.PROVISIONING
    instance.status_code = instance.status_detail = ""
    instance.save(update_fields=["token_cache", "access_token_expires_at", "token_refreshed_at", "status",
                                 "status_code", "status_detail", "updated_at"])
    record("instance.reauthenticated", instance, actor=acting_user,
           data={"authorization": authorization.pk,
                 "signed_in_as": authorization.claims.get("preferred_username", "")})
    return _new_job(instance, ProvisioningJob.Kind.REAUTH, acting_user)
