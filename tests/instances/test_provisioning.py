"""Provisioning in a REAL Celery worker process against the sandbox tenant.

The `sandbox` fixture (session) starts before `celery_worker`, so the worker inherits the
sandbox's ports; data is committed (transactional tests) so the worker can read it.
"""

from __future__ import annotations

import itertools
import time

import pytest
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.client import AzureError
from setup_portal.azure.models import Authorization
from setup_portal.instances.models import Instance, JobStep, ProvisioningJob, StepAttempt
from setup_portal.instances.provisioning import STEP_KEYS
from setup_portal.instances.tasks import provision_instance, sweep_stale_jobs
from setup_portal.instances.tokens import acquire_token_for_instance
from tests.azure.provisioning import authorize_setup, create_instance, sandbox_setup, wait_for_job, wait_until
from tests.signin.conftest import outcome, post_answer

pytestmark = [pytest.mark.slow]


@pytest.fixture
def sbx(clean_sandbox):
    clean_sandbox.reset()
    return clean_sandbox


def _steps(job: ProvisioningJob) -> dict[str, JobStep]:
    return {s.key: s for s in job.steps.all()}


def _assert_no_step_ran_twice_at_once(job: ProvisioningJob) -> None:
    for step in job.steps.all():
        runs = list(StepAttempt.objects.filter(step=step).order_by("started_at", "id"))
        for earlier, later in itertools.pairwise(runs):
            assert earlier.finished_at is not None and earlier.finished_at <= later.started_at, (
                f"{step.key}: run by {earlier.worker} overlaps run by {later.worker}")


@pytest.mark.parametrize("auth_type", ["oauth2", "s2s", "custom"])
def test_it_provisions_an_instance(sbx, celery_worker, alice, auth_type):
    setup = sandbox_setup(alice, sbx, auth_type)
    authorize_setup(setup, sbx)
    job = wait_for_job(create_instance(setup), celery_worker)

    assert job.status == "succeeded", job.error_detail
    steps = _steps(job)
    assert [s.key for s in job.steps.order_by("position")] == STEP_KEYS
    assert all(s.status == "succeeded" and s.started_at and s.finished_at for s in steps.values())
    instance = Instance.objects.get()
    assert instance.status == "ready" and instance.ready_at
    assert instance.dataverse_user_id and instance.business_unit_id and instance.organization_id
    assert instance.organization_name and instance.organization_version
    assert instance.environment_type == "Sandbox"  # the seed's contoso is a CustomerTest organization
    assert len(instance.token_hash) == 64 and instance.token_prefix.startswith("dci_")
    assert instance.token_pending_reveal  # waits for its owner's first look
    assert instance.health == "healthy" and instance.health_checks.count() == 1
    assert Authorization.objects.get(setup=setup).instance == instance
    setup.refresh_from_db()
    assert setup.status == "completed"
    assert AuditEvent.objects.filter(verb="instance.ready", target_id=str(instance.pk)).count() == 1
    _assert_no_step_ran_twice_at_once(job)


def test_polling_off_skips_its_check(sbx, celery_worker, alice):
    setup = sandbox_setup(alice, sbx, "s2s")
    authorize_setup(setup, sbx)
    job = wait_for_job(create_instance(setup, polling=False), celery_worker)
    assert job.status == "succeeded"
    assert _steps(job)["polling_config"].status == "skipped"


def test_a_missing_application_user_fails_with_an_explanation(sbx, celery_worker, alice, alice_client):
    setup = sandbox_setup(alice, sbx, "s2s", client_id=sbx.info["no_app_user_client_id"],
                          client_secret=sbx.info["no_app_user_client_secret"])
    authorize_setup(setup, sbx, whoami=False)  # Authorize itself refuses this app (tests/signin/test_views.py)
    job = wait_for_job(create_instance(setup), celery_worker)
    assert job.status == "failed" and job.error_code == "dataverse_403"
    instance = Instance.objects.get()
    assert instance.status == "failed" and instance.status_code == "dataverse_403"
    page = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "Dynamics CRM refused access" in page and "application user" in page
    assert "Retry from the failed step" in page


def test_a_429_storm_is_ridden_out(sbx, celery_worker, alice):
    setup = sandbox_setup(alice, sbx, "s2s")
    authorize_setup(setup, sbx)
    sbx.faults(endpoint="whoami", status=429, retry_after=1, times=3)
    job = wait_for_job(create_instance(setup), celery_worker)
    assert job.status == "succeeded", job.error_detail
    whoami = _steps(job)["whoami"]
    assert whoami.attempts == 4  # three 429s, honoured, then the answer
    assert StepAttempt.objects.filter(step=whoami).count() == 1


def test_a_429_storm_that_does_not_end_fails_with_the_reason(sbx, celery_worker, alice):
    setup = sandbox_setup(alice, sbx, "s2s")
    authorize_setup(setup, sbx)
    sbx.faults(endpoint="whoami", status=429, retry_after=0, times=50)
    job = wait_for_job(create_instance(setup), celery_worker)
    assert job.status == "failed" and job.error_code == "http_429"
    assert _steps(job)["whoami"].attempts == 5
    assert "Gave up after 5 tries" in job.error_detail


def test_a_short_outage_during_whoami_is_retried(sbx, celery_worker, alice):
    setup = sandbox_setup(alice, sbx, "oauth2")
    authorize_setup(setup, sbx)
    sbx.faults(endpoint="whoami", status=503, times=2)
    job = wait_for_job(create_instance(setup), celery_worker)
    assert job.status == "succeeded"
    assert _steps(job)["whoami"].attempts == 3


def test_a_long_outage_fails_then_retry_resumes_at_the_failed_step(sbx, celery_worker, alice, alice_client):
    setup = sandbox_setup(alice, sbx, "oauth2")
    authorize_setup(setup, sbx)
    sbx.faults(endpoint="whoami", status=503, times=100)
    job = wait_for_job(create_instance(setup), celery_worker)
    assert job.status == "failed" and job.error_code == "http_503"
    instance = Instance.objects.get()
    page = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "Microsoft&#x27;s service is unavailable" in page or "service is unavailable" in page

    sbx.clear_faults()  # the outage is over
    response = alice_client.post(f"/instances/{instance.pk}/progress/retry/")
    assert response.status_code == 302
    job = wait_for_job(job, celery_worker, statuses=("succeeded",))
    steps = _steps(job)
    assert StepAttempt.objects.filter(step=steps["acquire_token"]).count() == 1  # not redone
    assert StepAttempt.objects.filter(step=steps["whoami"]).count() == 2
    assert Instance.objects.get().status == "ready"
    assert Instance.objects.count() == 1
    _assert_no_step_ran_twice_at_once(job)


def test_duplicated_messages_never_run_a_step_twice(sbx, celery_worker, alice):
    setup = sandbox_setup(alice, sbx, "s2s")
    authorize_setup(setup, sbx)
    sbx.faults(endpoint="whoami", latency_ms=500, times=1)
    job = create_instance(setup)
    provision_instance.delay(job.pk)
    provision_instance.delay(job.pk)
    job = wait_for_job(job, celery_worker)
    assert job.status == "succeeded"
    wait_until(lambda: "not-claimed" in celery_worker.log(), celery_worker, what="the duplicates to be handled")
    assert Instance.objects.count() == 1
    for step in job.steps.all():
        assert StepAttempt.objects.filter(step=step).count() == 1, step.key
    assert AuditEvent.objects.filter(verb="instance.ready").count() == 1


@pytest.fixture
def short_lease(monkeypatch):
    """A 4-second lease for the worker started after this fixture (it reads the environment at start)."""
    monkeypatch.setenv("PROVISIONING_LEASE_SECONDS", "4")


def test_a_worker_killed_mid_job_is_replaced_and_the_job_finishes(short_lease, sbx, celery_worker, alice):
    setup = sandbox_setup(alice, sbx, "oauth2")
    authorize_setup(setup, sbx)
    sbx.faults(endpoint="whoami", latency_ms=2500, times=1)  # long enough for the kill to land mid-step
    job = create_instance(setup)

    wait_until(lambda: StepAttempt.objects.filter(step__job=job, step__key="whoami").exists(), celery_worker,
               what="the whoami step to start")
    time.sleep(0.3)
    celery_worker.kill()
    killed_at = timezone.now()
    assert _steps(job)["whoami"].status == "running"

    celery_worker.start()  # a new worker process; the killed one's message is gone with it
    job = wait_for_job(job, celery_worker, statuses=("succeeded",), timeout=60, tick=sweep_stale_jobs)

    assert Instance.objects.count() == 1
    assert Instance.objects.get().status == "ready"
    steps = _steps(job)
    assert StepAttempt.objects.filter(step=steps["acquire_token"]).count() == 1
    runs = list(StepAttempt.objects.filter(step=steps["whoami"]).order_by("started_at"))
    assert [r.outcome for r in runs] == ["abandoned", "succeeded"]
    assert runs[1].started_at >= killed_at
    assert runs[0].worker != runs[1].worker
    _assert_no_step_ran_twice_at_once(job)
    assert job.attempts == 2


def test_reauthentication_keeps_the_instance_id(sbx, celery_worker, alice, alice_client):
    setup = sandbox_setup(alice, sbx, "oauth2")
    authorize_setup(setup, sbx)
    first_job = wait_for_job(create_instance(setup), celery_worker)
    instance = Instance.objects.get()
    token_hash = instance.token_hash

    response = alice_client.post(f"/azure/reauthorize/{instance.pk}/")
    assert response.status_code == 302
    response = outcome(alice_client, post_answer(alice_client, sbx.browser_answer(response["Location"])))
    assert response["Location"] == f"/instances/{instance.pk}/progress/"
    job = ProvisioningJob.objects.filter(instance=instance).exclude(pk=first_job.pk).get()
    assert job.kind == "reauth"
    job = wait_for_job(job, celery_worker)
    assert job.status == "succeeded"
    instance.refresh_from_db()
    assert Instance.objects.count() == 1 and instance.status == "ready"
    assert instance.token_hash == token_hash  # the instance token survives re-authentication
    assert instance.authorizations.count() == 2
    assert instance.jobs.count() == 2
    assert AuditEvent.objects.filter(verb="instance.reauthenticated", target_id=str(instance.pk)).exists()


def test_an_expired_refresh_token_asks_for_reauthentication(sbx, alice, db):
    setup = sandbox_setup(alice, sbx, "oauth2")
    authorize_setup(setup, sbx)
    from setup_portal.instances.actions import do_create_instance

    job = do_create_instance(setup, name="No worker", tags=[], polling_enabled=False, polling_resources=[],
                             polling_interval_minutes=15, filter_nulls=True, acting_user=alice)
    sbx.expire_refresh_tokens()
    with pytest.raises(AzureError) as failure:
        acquire_token_for_instance(job.instance, force_refresh=True)
    assert failure.value.code == "AADSTS700082"
