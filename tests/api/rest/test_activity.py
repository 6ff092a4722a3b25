"""Jobs, health, reviews, setups and the audit log through the management API."""

from __future__ import annotations

from setup_portal.instances.models import HealthCheck, Instance, JobStep, ProvisioningJob
from setup_portal.wizard.actions import do_create_setup
from tests.instances.factories import make_instance


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
    assert response.status_code == 400 and "comment" in response.json()["errors"]
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
    assert response.status_code == 400 and "since" in response.json()["errors"]


def test_portal_administrators_list_teams_and_users(alice, bob_api, django_user_model):
    from setup_portal.accounts.roles import set_portal_admin

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
