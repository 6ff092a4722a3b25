"""Passwords: checked against the user's own name and address, reset by e-mail only where mail is
delivered (or turned off, with admins handing out new passwords), and a first admin with a real address."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from setup_portal.audit.models import AuditEvent
from setup_portal.teams.models import Team
from setup_portal.teams.roles import is_admin
from tests.conftest import PASSWORD


@pytest.mark.parametrize(("username", "email", "password"), [
    ("dorathea", "", "dorathea2026"),
    ("dora", "kowalczyk@contoso.com", "kowalczyk2026"),
])
def test_it_refuses_a_password_like_the_new_users_name_or_address(alice_client, username, email, password):
    response = alice_client.post("/users/add/", {"username": username, "email": email, "role": "teamlead",
                                                 "password": password})
    assert response.status_code == 400
    assert b"too similar" in response.content
    assert not get_user_model().objects.filter(username=username).exists()


def test_it_compares_the_password_with_a_refused_name_too(alice_client, django_user_model):
    django_user_model.objects.create_user("dorathea")
    response = alice_client.post("/users/add/", {"username": "Dorathea", "role": "teamlead",
                                                 "password": "dorathea2026"})
    assert response.status_code == 400
    assert b"already exists" in response.content and b"too similar" in response.content


def test_it_adds_a_user_with_a_password_of_their_own(alice_client):
    response = alice_client.post("/users/add/", {"username": "dora", "role": "teamlead", "password": PASSWORD,
                                                 "team": Team.objects.default().pk})
    assert response.status_code == 200
    assert get_user_model().objects.get(username="dora").check_password(PASSWORD)


@pytest.mark.parametrize(("password", "reason"), [
    ("erinsmith2026", "too similar to the username"),
    ("password", "too short"),
    ("password123", "too common"),
])
def test_createuser_refuses_weak_passwords(db, password, reason):
    with pytest.raises(CommandError, match=reason):
        call_command("createuser", "erinsmith", "--role", "teamlead", "--password", password)
    assert not get_user_model().objects.filter(username="erinsmith").exists()


def test_createuser_compares_the_password_with_the_address(db):
    with pytest.raises(CommandError, match="too similar to the email address"):
        call_command("createuser", "erin", "--role", "admin", "--email", "nakamura@contoso.com",
                     "--password", "nakamura-2026")


def test_it_gives_the_first_admin_the_address_from_admin_email(db, capsys, monkeypatch):
    monkeypatch.setenv("ADMIN_EMAIL", "portal-admins@contoso.com")
    call_command("bootstrap_admin")
    assert get_user_model().objects.get(username="admin").email == "portal-admins@contoso.com"


def test_it_gives_the_first_admin_a_placeholder_in_development_and_says_so(db, capsys, monkeypatch, settings):
    monkeypatch.delenv("ADMIN_EMAIL", raising=False)
    settings.DEBUG = True  # pytest-django runs tests with DEBUG off
    call_command("bootstrap_admin")
    out = capsys.readouterr().out
    admin = get_user_model().objects.get(username="admin")
    assert is_admin(admin) and admin.email == "admin@example.com"
    assert "admin@example.com is a placeholder that receives no mail; set ADMIN_EMAIL" in out


def test_it_needs_the_first_admins_address_in_production(db, settings, monkeypatch):
    monkeypatch.delenv("ADMIN_EMAIL", raising=False)
    settings.DEBUG = False
    with pytest.raises(CommandError, match="Give the first admin's e-mail address"):
        call_command("bootstrap_admin")
    assert not get_user_model().objects.exists()
    with pytest.raises(CommandError, match="'admin@' is not an e-mail address"):
        call_command("bootstrap_admin", "--email", "admin@")
    call_command("bootstrap_admin", "--email", "it@contoso.com")
    # Later starts (docker compose runs it every time) have nothing to do and need no address.
    call_command("bootstrap_admin")


def _request_reset(client, email: str):
    return client.post("/accounts/password/reset/", {"email": email})


def test_it_mails_a_reset_link_when_reset_is_on(alice, client, mailoutbox):
    response = _request_reset(client, "alice@example.com")
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["alice@example.com"]
    assert re.search(r"/accounts/password/reset/key/\S+/", mailoutbox[0].body)


def test_it_says_to_ask_an_admin_when_reset_is_off(alice, client, mailoutbox, settings):
    settings.PASSWORD_RESET_ENABLED = False
    page = client.get("/accounts/password/reset/")
    assert page.status_code == 200
    assert b"Ask an admin of this portal for a new password" in page.content
    assert b'name="email"' not in page.content
    response = _request_reset(client, "alice@example.com")
    assert response.status_code == 403
    assert b"Ask an admin" in response.content
    assert mailoutbox == []


def test_a_link_mailed_before_reset_was_turned_off_stops_working(alice, client, mailoutbox, settings):
    _request_reset(client, "alice@example.com")
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/\S+/)", mailoutbox[0].body).group(1)
    settings.PASSWORD_RESET_ENABLED = False
    response = client.post(link, {"password1": "a-new-password-2026", "password2": "a-new-password-2026"})
    assert response.status_code == 403
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)


def test_an_admin_gives_a_user_a_new_password_shown_once(alice_client, bob, client):
    client.force_login(bob)
    response = alice_client.post(f"/users/{bob.pk}/password/")
    assert response.status_code == 200
    password = re.search(rb'<code id="new-password">([^<]+)</code>', response.content).group(1).decode()
    bob.refresh_from_db()
    assert bob.check_password(password) and not bob.check_password(PASSWORD)
    assert client.get("/").status_code == 302  # bob's session ended with the old password
    event = AuditEvent.objects.get(verb="user.password_set")
    assert event.actor_label == "alice" and event.target_label == "bob"
    assert password.encode() not in alice_client.get("/users/").content


def test_it_lets_only_portal_admins_give_new_passwords(alice, bob_client, charlie):
    assert bob_client.post(f"/users/{charlie.pk}/password/").status_code == 403
    assert bob_client.get(f"/users/{charlie.pk}/password/").status_code == 405
    assert get_user_model().objects.get(pk=charlie.pk).check_password(PASSWORD)


def test_an_admin_changes_their_own_password_the_usual_way(alice_client, alice):
    response = alice_client.post(f"/users/{alice.pk}/password/", follow=True)
    assert b"Change your own password under Change password" in response.content
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)
