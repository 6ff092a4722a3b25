"""Shared steps for the provisioning tests: an authorized sandbox setup, and waiting on the worker."""

from __future__ import annotations

import time

from setup_portal.azure.client import Credentials, acquire_token_for_client
from setup_portal.azure.flows import do_authorize_without_browser, do_start_authorization
from setup_portal.azure.models import Authorization
from setup_portal.instances.actions import do_create_instance
from setup_portal.instances.models import ProvisioningJob
from setup_portal.signin.actions import do_complete_authorization
from setup_portal.wizard.actions import do_record_setup_authorization
from setup_portal.wizard.models import Setup

REDIRECT_URI = "http://127.0.0.1:8000/azure/callback/"


def sandbox_setup(owner, sandbox, auth_type: str = "oauth2", **overrides) -> Setup:
    info = sandbox.info
    values = {"owner": owner, "use_sandbox": True, "dynamics_url": info["dynamics_url"], "region": "Sandbox",
              "tenant": info["tenant_id"], "auth_type": auth_type, "current_stage": "authorize"}
    if auth_type == "custom":
        values.update(username=info["username"], password=info["password"])
    else:
        values.update(client_id=info["client_id"], client_secret=info["client_secret"])
    values.update(overrides)
    return Setup.objects.create(**values)


def authorize_setup(setup: Setup, sandbox, *, whoami: bool = True) -> None:
    """Stage 7 through the real client: browser sign-in for OAuth 2.0, a token request otherwise.

    `whoami=False` skips server-to-server's WhoAmI check at Authorize, as if Dataverse had
    changed its mind (an application user removed) between Authorize and Create.
    """
    if setup.auth_type == "oauth2":
        auth_url = do_start_authorization(user=setup.owner, setup=setup, redirect_uri=REDIRECT_URI)
        _, answer = sandbox.browser_answer(auth_url)
        flow = do_complete_authorization(user=setup.owner, answer=answer)  # records the setup's authorization
        assert flow.authorization is not None, (flow.error_code, flow.error_detail)
    elif whoami:
        authorization = do_authorize_without_browser(user=setup.owner, setup=setup)
        do_record_setup_authorization(setup, authorization=authorization, flow=None, acting_user=setup.owner)
    else:
        result = acquire_token_for_client(Credentials.of(setup))
        authorization = Authorization.objects.create(setup=setup, user=setup.owner, token_cache=result.cache,
                                                     access_token_expires_at=result.expires_at)
        do_record_setup_authorization(setup, authorization=authorization, flow=None, acting_user=setup.owner)


def create_instance(setup: Setup, *, name: str = "Contoso sales", polling: bool = True) -> ProvisioningJob:
    return do_create_instance(setup, name=name, tags=["sales"], polling_enabled=polling,
                              polling_resources=["accounts", "contacts", "notes"] if polling else [],
                              polling_interval_minutes=15, filter_nulls=True, acting_user=setup.owner)


def wait_for_job(job: ProvisioningJob, worker, statuses=("succeeded", "failed"), timeout: float = 90,
                 tick=None) -> ProvisioningJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in statuses:
            return job
        if tick:
            tick()
        time.sleep(0.1)
    steps = [(s.key, s.status, s.attempts, s.detail) for s in job.steps.all()]
    raise AssertionError(f"job {job.pk} is {job.status} after {timeout}s; steps {steps}\n"
                         f"worker log:\n{worker.log()[-4000:]}")


def wait_until(predicate, worker, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\nworker log:\n{worker.log()[-4000:]}")
