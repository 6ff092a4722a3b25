"""Who may do what: alice (admin, owner) edits; bob (team lead) and other admins look; charlie gets 403."""

from __future__ import annotations

import pytest

from setup_portal.wizard.models import Setup, StageRecord

from .helpers import new_setup, post_stage, stage_url, walk

STAGES = ["account", "environment", "application", "keys", "permissions", "review", "authorize", "instance"]


@pytest.fixture
def draft(alice_client) -> Setup:
    setup = new_setup(alice_client)
    walk(alice_client, setup, "review")
    alice_client.logout()
    return setup


def test_anonymous_is_sent_to_login(client, draft):
    for url in ["/setup/", "/setup/new/", f"/setup/{draft.pk}/", stage_url(draft, "account")]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    assert client.post("/setup/new/").status_code == 302
    assert not Setup.objects.exclude(pk=draft.pk).exists()


def test_charlie_gets_403_everywhere(charlie_client, draft):
    gets = ["/setup/", "/setup/new/", f"/setup/{draft.pk}/"] + [stage_url(draft, s) for s in STAGES]
    for url in gets:
        assert charlie_client.get(url).status_code == 403, url
    for url in ["/setup/new/", "/setup/sandbox/", f"/setup/{draft.pk}/discard/", stage_url(draft, "account")]:
        assert charlie_client.post(url).status_code == 403, url


def test_team_lead_sees_drafts_read_only(bob_client, draft):
    page = bob_client.get("/setup/").content.decode()
    assert "Setups in progress" in page and "alice" in page and "Discard" not in page
    assert bob_client.get(f"/setup/{draft.pk}/")["Location"] == stage_url(draft, "review")
    for stage in STAGES[:6]:
        response = bob_client.get(stage_url(draft, stage))
        assert response.status_code == 200, stage
        page = response.content.decode()
        assert "Read-only" in page and "belongs to alice" in page
        assert "Save and continue" not in page and 'name="csrfmiddlewaretoken"' not in page.split("<main")[1]
    assert "https://contoso.crm4.dynamics.com" in bob_client.get(stage_url(draft, "environment")).content.decode()
    before = StageRecord.objects.count()
    for stage in STAGES:
        assert bob_client.post(stage_url(draft, stage), {"confirmed": "on"}).status_code == 403, stage
    assert bob_client.post("/setup/new/").status_code == 403
    assert bob_client.post(f"/setup/{draft.pk}/discard/").status_code == 403
    assert StageRecord.objects.count() == before


def test_another_admin_cannot_change_alices_draft(client, draft, dave):
    client.force_login(dave)
    assert "contoso" not in client.get("/setup/").content.decode()  # admins list their own drafts
    page = client.get(stage_url(draft, "keys")).content.decode()
    assert "Read-only" in page and "Save and continue" not in page
    assert post_stage(client, draft, "account").status_code == 403
    assert client.post(f"/setup/{draft.pk}/discard/").status_code == 403
    draft.refresh_from_db()
    assert draft.status == Setup.Status.DRAFT


def test_forms_need_csrf(alice, draft):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/setup/new/").status_code == 403
    assert client.post(stage_url(draft, "account"), {"dynamics_account": "on"}).status_code == 403
    assert client.post(f"/setup/{draft.pk}/discard/").status_code == 403
