"""Jobs, health, reviews, setups and the audit log through the management API."""

from __future__ import annotations

from django.db import connection

from setup_portal.api.crm.authentication import _find
from setup_portal.audit.models import AuditEvent
from setup_portal.instances import actions, state, token_reveal
from setup_portal.instances.models import HealthCheck, Instance, JobStep, ProvisioningJob
from setup_portal.wizard.actions import do_create_setup
from tests.instances.factories import make_instance

from .conftest import key_client


def _failed_job(inst, user) -> ProvisioningJob:
    job = ProvisioningJob.objects.create(instance=inst, created_by=user, status=ProvisioningJob.Status.FAILED,
                                         error_code="dataverse_403")
    JobStep.objects.create(job=job, key="token", position=0, status=JobStep.Status.SUCCEEDED)
    JobStep.objects.create(job=job, key="whoami", position=1, status=JobStep.Status.FAILED, error_code="dataverse_403")
    return job


def test_it_shows_jobs_with_their_steps(alice, bob_api):
    inst = make_instance(alice)
    job = _failed_job(inst, alice)
    body = bob_api.get(f"/api/v1/instances/{inst.pk}/jobs").json()
    assert [j["id"] for j in body["results"]] == [job.pk]
    detail = bob_api.get(f"/api/v1/jobs/{job.pk}").json()
    assert [(s["key"], s["status"]) for s in detail["steps"]] == [("token", "succeeded"), ("whoami", "failed")]
    assert bob_api.get("/api/v1/jobs/999999").status_code == 404
    assert bob_api.get("/api/v1/jobs/abc").status_code == 404


def test_it_retries_a_failed_job_from_its_failed_step(alice, alice_api, bob_api):
    inst = make_instance(alice, status=Instance.Status.FAILED)
    job = _failed_job(inst, alice)
    assert bob_api.post(f"/api/v1/jobs/{job.pk}/retry").status_code == 403
    response = alice_api.post(f"/api/v1/jobs/{job.pk}/retry")
    assert response.status_code == 202, response.content
    steps = {s["key"]: s["status"] for s in response.json()["steps"]}
    assert steps == {"token": "succeeded", "whoami": "pending"} and response.json()["status"] == "queued"
    assert alice_api.post(f"/api/v1/jobs/{job.pk}/retry").status_code == 409


def test_it_lists_health_checks(alice, bob_api):
    inst = make_instance(alice)
    HealthCheck.objects.create(instance=inst, ok=False, detail="Dataverse said 403", error_code="dataverse_403")
    body = bob_api.get(f"/api/v1/instances/{inst.pk}/health").json()
    assert [(c["ok"], c["error_code"]) for c in body["results"]] == [(False, "dataverse_403")]


def test_team_leads_review(alice, alice_api, bob_api):
    inst = make_instance(alice)
    assert alice_api.post(f"/api/v1/instances/{inst.pk}/approve").status_code == 403
    response = bob_api.post(f"/api/v1/instances/{inst.pk}/request-changes", {"comment": "  "})
    assert response.status_code == 422 and "comment" in response.json()["errors"]
    response = bob_api.post(f"/api/v1/instances/{inst.pk}/request-changes", {"comment": "Tag it."})
    assert response.status_code == 200 and response.json()["review_state"] == "changes_requested"
    alice_api.patch(f"/api/v1/instances/{inst.pk}", {"tags": ["emea"]})
    assert alice_api.get(f"/api/v1/instances/{inst.pk}").json()["review_state"] == "resubmitted"
    response = bob_api.post(f"/api/v1/instances/{inst.pk}/approve", {"comment": "Thanks"})
    assert response.status_code == 200 and response.json()["review_state"] == "approved"
    reviews = bob_api.get(f"/api/v1/instances/{inst.pk}/reviews").json()["results"]
    assert [r["decision"] for r in reviews] == ["approved", "changes_requested"]


def test_it_lists_and_gets_setups(alice, bob_api):
    setup = do_create_setup(acting_user=alice)
    body = bob_api.get("/api/v1/setups").json()
    assert [s["id"] for s in body["results"]] == [str(setup.pk)]
    detail = bob_api.get(f"/api/v1/setups/{setup.pk}").json()
    assert detail["status"] == "draft" and detail["stages"] == []
    assert bob_api.get("/api/v1/setups", {"status": "nope"}).status_code == 400
    assert bob_api.get("/api/v1/setups/not-a-uuid").status_code == 404


def test_it_filters_the_audit_log(alice, alice_api):
    inst = make_instance(alice)
    alice_api.post(f"/api/v1/instances/{inst.pk}/disable")
    body = alice_api.get("/api/v1/audit-events", {"verb": "instance.disabled"}).json()
    assert [(e["verb"], e["target_id"], e["actor"]) for e in body["results"]] == [
        ("instance.disabled", str(inst.pk), "alice")]
    response = alice_api.get("/api/v1/audit-events", {"since": "2026-02-30"})
    assert response.status_code == 422 and "since" in response.json()["errors"]


def test_portal_administrators_list_teams_and_users(alice, bob_api, django_user_model):
    from setup_portal.teams.roles import set_portal_admin

    from .conftest import key_client

    admin = django_user_model.objects.create_user("pam", "pam@example.com", "x")
    set_portal_admin(admin)
    api = key_client(admin)
    teams = api.get("/api/v1/teams").json()["results"]
    assert {"membership": alice.memberships.get().pk, "user": alice.pk, "username": "alice",
            "role": "admin"} in teams[0]["members"]
    users = {u["username"]: u for u in api.get("/api/v1/users").json()["results"]}
    assert users["pam"]["portal_administrator"] is True and users["alice"]["teams"][0]["role"] == "admin"
    assert bob_api.get("/api/v1/teams").status_code == 403


def _key_prefix(api) -> str:
    return api.key.removeprefix("dcp_").partition("_")[0]


def _provisioned_with(api, owner) -> ProvisioningJob:
    """A provisioning job started with `api`'s key, finished by the worker's own mark_ready."""
    inst = make_instance(owner, status=Instance.Status.PROVISIONING)
    job = ProvisioningJob.objects.create(instance=inst, created_by=owner, status=ProvisioningJob.Status.SUCCEEDED,
                                         api_key_prefix=_key_prefix(api))
    state.mark_ready(job, acting_user=None)
    return job


def test_a_job_hands_its_token_once_to_the_key_that_started_it(alice, alice_api, bob_api):
    job = _provisioned_with(alice_api, alice)
    url = f"/api/v1/jobs/{job.pk}"
    other_key = key_client(alice)  # the same person with another key
    assert other_key.get(url).json()["instance_token"] is None
    assert bob_api.get(url).json()["instance_token"] is None  # a team lead of the team
    first = alice_api.get(url)
    token = first.json()["instance_token"]
    assert first["Cache-Control"] == "no-store" and token.startswith("dci_")
    assert _find(token) == job.instance
    assert alice_api.get(url).json()["instance_token"] is None  # once
    event = AuditEvent.objects.get(verb="instance.token_handed_over")
    assert event.actor == alice and event.data["api_key"] == f"dcp_{_key_prefix(alice_api)}" and token not in str(
        event.data)
    # Its owner can still show it on the pages (the script may have lost it) until confirming.
    inst = Instance.objects.get(pk=job.instance_id)
    assert inst.token_reveal_to == alice and str(inst.token_pending_reveal) == token


def test_a_job_hands_over_nothing_once_the_token_is_confirmed_or_replaced(alice, alice_api):
    job = _provisioned_with(alice_api, alice)
    inst = Instance.objects.get(pk=job.instance_id)
    assert token_reveal.do_confirm_instance_token(inst, acting_user=alice)
    assert alice_api.get(f"/api/v1/jobs/{job.pk}").json()["instance_token"] is None

    job = _provisioned_with(alice_api, alice)
    actions.do_issue_instance_token(Instance.objects.get(pk=job.instance_id), acting_user=alice)
    assert alice_api.get(f"/api/v1/jobs/{job.pk}").json()["instance_token"] is None  # not this job's token


def test_an_unfinished_job_keeps_its_token_for_later(alice, alice_api):
    inst = make_instance(alice, status=Instance.Status.PROVISIONING)
    job = ProvisioningJob.objects.create(instance=inst, created_by=alice, status=ProvisioningJob.Status.RUNNING,
                                         api_key_prefix=_key_prefix(alice_api))
    assert alice_api.get(f"/api/v1/jobs/{job.pk}").json()["instance_token"] is None
    ProvisioningJob.objects.filter(pk=job.pk).update(status=ProvisioningJob.Status.SUCCEEDED)
    job.status = ProvisioningJob.Status.SUCCEEDED
    state.mark_ready(job, acting_user=None)
    assert alice_api.get(f"/api/v1/jobs/{job.pk}").json()["instance_token"].startswith("dci_")


def test_a_job_finishing_while_its_answer_is_made_hands_its_token_to_an_answer_that_says_succeeded(
        alice, alice_api):
    """The worker commits the job's success between the view's read of the job and the hand-over (what a
    busy machine did to the provisioning test): that answer still says running, so it must not use the
    token up; the next one says succeeded and carries it."""
    inst = make_instance(alice, status=Instance.Status.PROVISIONING)
    job = ProvisioningJob.objects.create(instance=inst, created_by=alice, status=ProvisioningJob.Status.RUNNING,
                                         api_key_prefix=_key_prefix(alice_api))
    finished = []

    def the_worker_finishes_now(execute, sql, params, many, context):
        # The job's row is read; its steps are read next: the worker's commit lands in between.
        if not finished and "instances_jobstep" in sql:
            finished.append(True)
            ProvisioningJob.objects.filter(pk=job.pk).update(status=ProvisioningJob.Status.SUCCEEDED)
            job.status = ProvisioningJob.Status.SUCCEEDED
            state.mark_ready(job, acting_user=None)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(the_worker_finishes_now):
        first = alice_api.get(f"/api/v1/jobs/{job.pk}").json()
    assert finished
    assert (first["status"], first["instance_token"]) == ("running", None)
    second = alice_api.get(f"/api/v1/jobs/{job.pk}").json()
    assert second["status"] == "succeeded" and second["instance_token"].startswith("dci_")
    assert _find(second["instance_token"]) == inst


def test_the_api_issues_a_new_token_held_like_the_pages(alice, alice_api):
    inst = make_instance(alice)
    body = alice_api.post(f"/api/v1/instances/{inst.pk}/token").json()
    inst.refresh_from_db()
    assert str(inst.token_pending_reveal) == body["token"] and inst.token_reveal_to == alice
