"""POST /api/v1/instances: the wizard's stages without a browser, against the sandbox tenant."""

from __future__ import annotations

import time
from uuid import UUID

import pytest

from setup_portal.api.crm.authentication import _find
from setup_portal.instances.models import Instance, ProvisioningJob
from setup_portal.wizard.models import Setup, StageRecord

from .conftest import key_client

LIST = "/api/v1/instances"


def _s2s_body(info: dict, **over) -> dict:
    body = {"auth_type": "s2s", "dynamics_url": info["dynamics_url"], "tenant": info["tenant_id"],
            "name": "Contoso via API", "tags": ["api"],
            "credentials": {"client_id": info["s2s_client_id"], "client_secret": info["s2s_client_secret"],
                            "secret_expires_on": info["client_secret_expires"][:10]}}
    body.update(over)
    return body


def _follow(api, job_url: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = api.get(job_url).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


@pytest.mark.django_db(transaction=True)
def test_it_provisions_a_server_to_server_instance(alice, sandbox, celery_worker):
    api = key_client(alice)
    response = api.post(LIST, _s2s_body(sandbox.info))
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["job_url"]
    job = _follow(api, body["job_url"])
    assert job["status"] == "succeeded", (job, celery_worker.log())
    assert {step["status"] for step in job["steps"]} <= {"succeeded", "skipped"}
    # The first answer after success carries the instance token, once, to the key that started the job.
    token = job["instance_token"]
    assert token.startswith("dci_") and _find(token).pk == UUID(body["instance"])
    assert api.get(body["job_url"]).json()["instance_token"] is None
    inst = api.get(body["instance_url"]).json()
    assert inst["status"] == "ready" and inst["tags"] == ["api"] and inst["auth_type"] == "s2s"
    setup = Setup.objects.get(instance__pk=body["instance"])
    stages = list(StageRecord.objects.filter(setup=setup, valid=True).values_list("stage", flat=True))
    assert stages == ["account", "environment", "application", "keys", "permissions", "review", "authorize",
                      "instance"]
    assert StageRecord.objects.filter(setup=setup, values__source="api").count() == 6
    assert not Setup.objects.get(pk=setup.pk).client_secret  # moved to the instance, not copied


def test_it_refuses_what_the_wizard_refuses_and_keeps_nothing(alice, sandbox):
    api = key_client(alice)
    tenant = sandbox.info["tenant_id"]
    response = api.post(LIST, _s2s_body(sandbox.info, credentials={"client_id": tenant,
                                                                   "client_secret": "x" * 40,
                                                                   "secret_expires_on": "2099-01-01"}))
    assert response.status_code == 422
    assert "directory (tenant) ID" in response.json()["errors"]["credentials.client_id"][0]
    response = api.post(LIST, _s2s_body(sandbox.info, dynamics_url="https://example.com"))
    assert response.status_code == 422 and set(response.json()["errors"]) == {"dynamics_url"}
    response = api.post(LIST, _s2s_body(sandbox.info, dynamics_url="https://10.0.0.7/"))
    assert response.status_code == 422 and "IP addresses" in response.json()["errors"]["dynamics_url"][0]
    assert not Setup.objects.exists() and not Instance.objects.exists()


def test_a_refused_secret_is_a_field_error(alice, sandbox):
    api = key_client(alice)
    body = _s2s_body(sandbox.info)
    body["credentials"]["client_secret"] = "not-the-secret-value-at-all-0123456789"
    response = api.post(LIST, body)
    assert response.status_code == 422, response.content
    assert "AADSTS7000215" in response.json()["errors"]["credentials.client_secret"][0]
    assert not ProvisioningJob.objects.exists()


def test_oauth_continues_in_the_wizard(alice, sandbox):
    api = key_client(alice)
    info = sandbox.info
    response = api.post(LIST, {"auth_type": "oauth2", "dynamics_url": info["dynamics_url"], "tenant": info["tenant_id"],
                               "name": "Needs a person",
                               "credentials": {"client_id": info["client_id"], "client_secret": info["client_secret"],
                                               "secret_expires_on": info["client_secret_expires"][:10]}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["wizard_url"].endswith(f"/setup/{body['setup']}/authorize/")
    assert Setup.objects.get(pk=body["setup"]).current_stage == "authorize"
    assert not Instance.objects.exists()


def test_team_leads_do_not_provision(bob, sandbox):
    response = key_client(bob).post(LIST, _s2s_body(sandbox.info))
    assert response.status_code == 403


def test_it_puts_the_instance_in_a_team_the_caller_administers(alice, sandbox):
    from setup_portal.teams.models import Team
    from setup_portal.teams.roles import set_role

    other = Team.objects.create(name="Team B")
    api = key_client(alice)
    response = api.post(LIST, _s2s_body(sandbox.info, team=other.pk))
    assert response.status_code == 422 and "team" in response.json()["errors"]
    set_role(alice, "admin", other)
    response = api.post(LIST, _s2s_body(sandbox.info))  # an admin of two teams says which
    assert response.json()["errors"]["team"] == ["Pick the team this endpoint is for."]
    response = api.post(LIST, _s2s_body(sandbox.info, team=other.pk))
    assert response.status_code == 202, response.content
    assert Instance.objects.get(pk=response.json()["instance"]).team == other
