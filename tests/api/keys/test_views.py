"""The API key pages: a person's own keys (create, shown once; revoke) and everyone's for portal administrators."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from setup_portal.api.keys.actions import do_create_api_key, verify_api_key
from setup_portal.api.models import ApiKey
from setup_portal.teams.roles import set_portal_admin, set_role

MINE = "/account/api-keys/"
ALL = "/users/api-keys/"


@pytest.fixture
def dana(db, django_user_model):
    """Portal administrator (and no team role)."""
    user = django_user_model.objects.create_user(username="dana", password="x")
    set_portal_admin(user)
    return user


@pytest.fixture
def dana_client(dana):
    client = Client()
    client.force_login(dana)
    return client


@pytest.fixture
def erin_client(db, django_user_model):
    """An admin of a team who is not a portal administrator."""
    user = django_user_model.objects.create_user(username="erin", password="x")
    set_role(user, "admin")
    client = Client()
    client.force_login(user)
    return client


def _ticket(client: Client) -> str:
    return re.search(r'name="ticket" value="([^"]+)"', client.get(MINE).content.decode()).group(1)


def _create(client: Client, name: str = "Nightly script", days="90", ticket: str | None = None):
    return client.post(MINE, {"name": name, "expires_days": days, "ticket": ticket or _ticket(client)})


def test_it_creates_a_key_and_shows_it_once(charlie, charlie_client):
    response = _create(charlie_client)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = re.search(r'<code id="api-key">(dcp_[^<]+)</code>', response.content.decode()).group(1)
    row = verify_api_key(key)
    assert row.owner == charlie and row.name == "Nightly script"
    page = charlie_client.get(MINE).content.decode()
    assert f"dcp_{row.prefix}…" in page and "Nightly script" in page
    assert key not in page and key.rsplit("_", 1)[1] not in page


def test_sending_the_form_again_makes_no_second_key(charlie_client):
    ticket = _ticket(charlie_client)
    first = _create(charlie_client, ticket=ticket)
    assert first.status_code == 200
    again = _create(charlie_client, ticket=ticket)  # the browser's reload of the page that showed the key
    assert again.status_code == 302 and again["Location"] == MINE
    page = charlie_client.get(MINE).content.decode()
    assert "already sent" in page and "dcp_" in page
    assert ApiKey.objects.count() == 1
    assert _create(charlie_client, ticket="made-up").status_code == 302 and ApiKey.objects.count() == 1


def test_it_explains_bad_values(charlie_client):
    for days, message in [("0", "at least 1 day"), ("366", "at most 365 days"), ("soon", "whole number of days"),
                          ("", "how many days")]:
        response = _create(charlie_client, days=days)
        assert response.status_code == 400 and message in response.content.decode()
    response = _create(charlie_client, name="  ")
    assert response.status_code == 400 and "Give the key a name" in response.content.decode()
    response = _create(charlie_client, name="x" * 101)
    assert response.status_code == 400 and "at most 100 characters" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_list_shows_status_and_last_use(charlie, charlie_client):
    used = do_create_api_key(charlie, "used", acting_user=charlie)
    Client().get("/api/v1/me", headers={"Authorization": f"Bearer {used.key}"}, REMOTE_ADDR="198.51.100.4")
    page = charlie_client.get(MINE).content.decode()
    assert "198.51.100.4" in page and "Active" in page and "Never" not in page
    assert used.key not in page


def test_it_revokes_after_confirming(charlie, charlie_client):
    api_key = do_create_api_key(charlie, "script", acting_user=charlie).api_key
    url = f"/account/api-keys/{api_key.pk}/revoke/"
    confirm = charlie_client.get(url)
    assert confirm.status_code == 200 and "stops working at once" in confirm.content.decode()
    assert charlie_client.post(url).status_code == 200  # not confirmed: asks again
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    response = charlie_client.post(url, {"confirmed": "yes"})
    assert response.status_code == 302 and response["Location"] == MINE
    row = ApiKey.objects.get(pk=api_key.pk)
    assert row.revoked_at is not None and row.revoked_by == charlie
    page = charlie_client.get(MINE).content.decode()
    assert "Revoked" in page and "calls with it are refused" in page


def test_someone_elses_key_answers_as_a_missing_one(bob, erin_client, charlie_client):
    api_key = do_create_api_key(bob, "Bob script", acting_user=bob).api_key
    url = f"/account/api-keys/{api_key.pk}/revoke/"
    missing = charlie_client.get("/account/api-keys/999999/revoke/")
    assert missing.status_code == 404
    for client in (erin_client, charlie_client):
        assert client.get(url).status_code == 404
        refused = client.post(url, {"confirmed": "yes"})
        assert refused.status_code == 404 and b"Bob script" not in refused.content
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None


def test_portal_administrators_see_and_revoke_everyones_keys(dana, dana_client, bob, charlie):
    bobs = do_create_api_key(bob, "Bob script", acting_user=bob)
    do_create_api_key(charlie, "Charlie script", acting_user=charlie)
    page = dana_client.get(ALL).content.decode()
    assert "Bob script" in page and "Charlie script" in page and bobs.key not in page
    response = dana_client.post(f"/account/api-keys/{bobs.api_key.pk}/revoke/?from=all", {"confirmed": "yes"})
    assert response.status_code == 302 and response["Location"] == ALL
    assert ApiKey.objects.get(pk=bobs.api_key.pk).revoked_by == dana
    assert "by dana" in dana_client.get(ALL).content.decode()
    assert "Revoked" in bob_client_page(bob)


def bob_client_page(bob) -> str:
    client = Client()
    client.force_login(bob)
    return client.get(MINE).content.decode()


def test_only_portal_administrators_see_everyones_keys(erin_client, bob_client, charlie_client, client):
    assert erin_client.get(ALL).status_code == 403  # an admin of a team is not a portal administrator
    assert bob_client.get(ALL).status_code == 403
    assert charlie_client.get(ALL).status_code == 403
    assert client.get(ALL).status_code == 302 and client.get(MINE).status_code == 302  # to the login page


def test_the_user_menu_links_the_pages(erin_client, charlie_client, dana_client):
    assert 'href="/account/api-keys/"' in charlie_client.get("/").content.decode()
    assert 'href="/users/api-keys/"' not in erin_client.get("/").content.decode()
    assert 'href="/users/api-keys/"' in dana_client.get("/").content.decode()
    assert 'href="/users/api-keys/"' in dana_client.get(MINE).content.decode()


def test_the_audit_log_shows_keys_made_and_revoked_without_the_key(charlie, dana, dana_client):
    new = do_create_api_key(charlie, "Charlie script", acting_user=charlie)
    dana_client.post(f"/account/api-keys/{new.api_key.pk}/revoke/", {"confirmed": "yes"})
    response = dana_client.get("/audit/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "api_key.created" in page and "api_key.revoked" in page and new.api_key.prefix in page
    assert new.key not in page
