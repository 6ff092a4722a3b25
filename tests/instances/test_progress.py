"""The progress page, its live fragment, the JSON status, retry and the one-time token."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from setup_portal.instances.models import Instance, JobStep, ProvisioningJob
from setup_portal.instances.provisioning import STEP_KEYS

pytestmark = pytest.mark.django_db


def _instance(owner, *, job_status="running", failed_step=None, code="") -> Instance:
    instance = Instance.objects.create(name="Contoso sales", owner=owner, dynamics_url="https://contoso.crm.dynamics.com",
                                       tenant="contoso.onmicrosoft.com", auth_type="oauth2",
                                       client_secret="very-secret-value-123", status="provisioning")
    job = ProvisioningJob.objects.create(instance=instance, status=job_status, error_code=code,
                                         started_at=timezone.now())
    now = timezone.now()
    for i, key in enumerate(STEP_KEYS):
        if job_status == "succeeded" or i < 2:
            status = "succeeded"
        elif i == 2:
            status = "failed" if failed_step else "running"
        else:
            status = "pending"
        JobStep.objects.create(job=job, key=key, position=i, status=status, attempts=1 if status != "pending" else 0,
                               started_at=now if status != "pending" else None,
                               finished_at=now if status in ("succeeded", "failed") else None,
                               error_code=code if status == "failed" else "",
                               detail="Dynamics CRM answered 403." if status == "failed" else "")
    return instance


def _ready(owner) -> Instance:
    instance = _instance(owner, job_status="succeeded")
    token = "dci_example-token-value-0123456789"
    Instance.objects.filter(pk=instance.pk).update(status="ready", ready_at=timezone.now(),
                                                   token_hash=hashlib.sha256(token.encode()).hexdigest(),
                                                   token_prefix=token[:12])
    instance.refresh_from_db()
    instance.token_pending_reveal = token
    instance.save(update_fields=["token_pending_reveal"])
    return instance


def test_it_shows_the_steps_live(alice_client, alice):
    instance = _instance(alice)
    response = alice_client.get(f"/instances/{instance.pk}/progress/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in body
    assert '<noscript><meta http-equiv="refresh"' in body  # works without JavaScript
    assert "Read the organization&#x27;s details" in body and 'class="step-running"' in body
    assert 'aria-valuenow="33"' in body
    assert "very-secret-value-123" not in body


def test_the_fragment_stops_polling_when_finished(alice_client, alice):
    instance = _instance(alice, job_status="failed", failed_step=True, code="dataverse_403")
    response = alice_client.get(f"/instances/{instance.pk}/progress/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="progress-live"' in body
    assert "hx-trigger" not in body
    assert "Dynamics CRM refused access" in body and "application user" in body
    assert "Retry from the failed step" in body


@pytest.mark.parametrize("client_fixture, status", [("alice_client", 200), ("bob_client", 200),
                                                    ("charlie_client", 403), ("client", 302)])
def test_only_admins_and_team_leads_see_it(request, alice, client_fixture, status):
    instance = _instance(alice)
    client = request.getfixturevalue(client_fixture)
    assert client.get(f"/instances/{instance.pk}/progress/").status_code == status
    assert client.get(f"/instances/{instance.pk}/progress.json").status_code == status


def test_team_leads_cannot_retry(bob_client, alice):
    instance = _instance(alice, job_status="failed", failed_step=True, code="http_503")
    assert "Retry from the failed step" not in bob_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert bob_client.post(f"/instances/{instance.pk}/progress/retry/").status_code == 403
    assert ProvisioningJob.objects.get().status == "failed"


def test_retry_resets_only_the_failed_step(alice_client, alice, django_capture_on_commit_callbacks):
    instance = _instance(alice, job_status="failed", failed_step=True, code="http_503")
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(f"/instances/{instance.pk}/progress/retry/")
    assert response.status_code == 302 and len(callbacks) == 1  # enqueued once, on commit
    job = ProvisioningJob.objects.get()
    assert job.status == "queued" and job.error_code == ""
    statuses = dict(job.steps.values_list("key", "status"))
    assert statuses["acquire_token"] == statuses["whoami"] == "succeeded"
    assert statuses["organization"] == "pending"
    instance.refresh_from_db()
    assert instance.status == "provisioning"


def test_the_token_is_shown_once_to_the_owner(alice_client, bob_client, alice):
    instance = _ready(alice)
    assert "dci_example-token-value" not in bob_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "dci_example-token-value" not in alice_client.get(f"/instances/{instance.pk}/progress.json").content.decode()
    first = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "dci_example-token-value-0123456789" in first and "shown only this once" in first
    second = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "dci_example-token-value-0123456789" not in second
    assert "cannot be shown again" in second
    instance.refresh_from_db()
    assert not instance.token_pending_reveal and instance.token_hash


def test_the_json_status(alice_client, alice):
    instance = _instance(alice, job_status="failed", failed_step=True, code="dataverse_403")
    data = alice_client.get(f"/instances/{instance.pk}/progress.json").json()
    assert data["job"]["status"] == "failed" and data["finished"] is True
    assert [s["key"] for s in data["steps"]] == STEP_KEYS
    assert data["steps"][2]["error_code"] == "dataverse_403"
    assert data["explanation"]["title"] == "Dynamics CRM refused access"


def test_elapsed_times_read_well():
    from setup_portal.instances.templatetags.instance_tags import seconds

    assert [seconds(v) for v in (None, 0.042, 1.44, 125)] == ["", "42 ms", "1.4 s", "2 min 5 s"]
