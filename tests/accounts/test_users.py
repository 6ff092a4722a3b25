"""The Users pages: portal administrators add people with a team and role, change roles, move
people between teams and hand out portal administration; each change confirmed and audited."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from setup_portal.accounts.actions import do_create_team, do_set_portal_admin
from setup_portal.audit.models import AuditEvent
from setup_portal.teams.models import Membership, Team, roles_of
from setup_portal.teams.roles import is_portal_admin, set_portal_admin, set_role
from tests.conftest import _make_user


@pytest.fixture
def sales(alice):
    return do_create_team("Sales", acting_user=alice)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _fresh(user):
    return get_user_model().objects.get(pk=user.pk)


def test_it_lists_users_with_their_teams_and_roles(alice_client, bob, sales):
    set_role(bob, "admin", sales)
    page = alice_client.get("/users/").content.decode()
    assert "Default team · <strong>Team lead</strong>" in page
    assert "Sales · <strong>Admin</strong>" in page
    assert "Portal administrator" in page  # alice
    assert f'href="/users/{bob.pk}/"' in page


def test_users_pages_are_for_portal_administrators(alice, bob_client, charlie_client, django_user_model, sales):
    team_admin = _make_user(django_user_model, "tess", "admin")
    urls = ["/users/", "/users/add/", f"/users/{alice.pk}/"]
    for client in (bob_client, charlie_client, _client(team_admin)):
        for url in urls:
            assert client.get(url).status_code == 403
        membership = Membership.objects.get(user=alice)
        assert client.post(f"/users/memberships/{membership.pk}/remove/", {"confirmed": "yes"}).status_code == 403
        assert client.post(f"/users/{alice.pk}/portal-admin/", {"portal_admin": "no", "confirmed": "yes"}
                           ).status_code == 403
        assert client.post(f"/users/{team_admin.pk}/teams/", {"team": sales.pk, "role": "admin"}).status_code == 403
    assert Membership.objects.filter(user=alice).exists() and is_portal_admin(_fresh(alice))
    assert not Membership.objects.filter(user=team_admin, team=sales).exists()
    assert Client().get("/users/").status_code == 302


def test_it_adds_a_user_in_a_team_with_a_role(alice_client, sales):
    page = alice_client.get("/users/add/").content.decode()
    assert "Sales" in page and "Default team" in page
    response = alice_client.post("/users/add/", {"username": "dora", "email": "dora@example.com",
                                                 "team": sales.pk, "role": "admin"})
    assert response.status_code == 200
    assert "Role: <strong>Admin</strong> of" in response.content.decode()
    dora = get_user_model().objects.get(username="dora")
    assert roles_of(dora) == {sales.pk: "admin"} and not is_portal_admin(dora)
    event = AuditEvent.objects.get(verb="user.created")
    assert event.actor_label == "alice" and event.data["team"] == "Sales" and event.data["role"] == "admin"


def test_it_adds_a_portal_administrator_and_a_user_without_a_team(alice_client):
    alice_client.post("/users/add/", {"username": "pat", "portal_admin": "on", "role": ""})
    pat = get_user_model().objects.get(username="pat")
    assert is_portal_admin(pat) and roles_of(pat) == {}
    response = alice_client.post("/users/add/", {"username": "newbie", "role": ""})
    assert b"sees nothing until you add them to a team" in response.content


def test_a_role_needs_a_team(alice_client):
    response = alice_client.post("/users/add/", {"username": "dora", "role": "teamlead", "team": ""})
    assert response.status_code == 400
    assert b"Pick the team this person gets the role in." in response.content
    response = alice_client.post("/users/add/", {"username": "dora", "role": "teamlead", "team": "999999"})
    assert response.status_code == 400
    assert b"Pick one of the listed teams." in response.content
    assert not get_user_model().objects.filter(username="dora").exists()


def test_the_user_page_shows_teams_roles_and_what_can_be_done(alice_client, bob, sales):
    page = alice_client.get(f"/users/{bob.pk}/").content.decode()
    assert "Teams and roles" in page and "Default team" in page
    assert "Add to a team" in page and f'<option value="{sales.pk}">Sales</option>' in page
    assert "Make portal administrator" in page and "New password" in page
    assert alice_client.get("/users/999999/").status_code == 404


def test_it_adds_a_user_to_another_team(alice_client, bob, sales):
    response = alice_client.post(f"/users/{bob.pk}/teams/", {"team": sales.pk, "role": "admin"}, follow=True)
    assert b"bob is now Admin of Sales." in response.content
    assert roles_of(_fresh(bob)) == {Team.objects.default().pk: "teamlead", sales.pk: "admin"}
    event = AuditEvent.objects.get(verb="membership.added")
    assert event.team_id == sales.pk and event.data == {"user": "bob", "team": "Sales", "role": "admin"}
    # Twice: the team is no longer offered.
    response = alice_client.post(f"/users/{bob.pk}/teams/", {"team": sales.pk, "role": "teamlead"})
    assert response.status_code == 400 and b"may be in that one already" in response.content
    assert roles_of(_fresh(bob))[sales.pk] == "admin"


def test_a_role_change_is_confirmed_then_made_and_audited(alice_client, bob):
    membership = Membership.objects.get(user=bob)
    url = f"/users/memberships/{membership.pk}/role/"
    response = alice_client.post(url, {"role": "admin"})
    page = response.content.decode()
    assert response.status_code == 200 and "Make bob Admin of Default team?" in page
    assert 'name="confirmed" value="yes"' in page and 'name="role" value="admin"' in page
    assert Membership.objects.get(pk=membership.pk).role == "teamlead"
    response = alice_client.post(url, {"role": "admin", "confirmed": "yes"}, follow=True)
    assert b"bob is now Admin of Default team." in response.content
    assert Membership.objects.get(pk=membership.pk).role == "admin"
    event = AuditEvent.objects.get(verb="membership.role_changed")
    assert event.data["from"] == "teamlead" and event.data["to"] == "admin" and event.actor_label == "alice"
    response = alice_client.post(url, {"role": "nonsense", "confirmed": "yes"}, follow=True)
    assert b"Pick one of the listed roles." in response.content


def test_removing_from_a_team_is_confirmed_then_done_and_audited(alice_client, bob):
    membership = Membership.objects.get(user=bob)
    url = f"/users/memberships/{membership.pk}/remove/"
    response = alice_client.post(url)
    assert b"Remove bob from Default team?" in response.content and b"btn-danger" in response.content
    assert Membership.objects.filter(pk=membership.pk).exists()
    response = alice_client.post(url, {"confirmed": "yes"}, follow=True)
    assert b"bob is no longer in Default team." in response.content
    assert b"is in no team" in response.content  # back on bob's page, which says what follows
    assert not Membership.objects.filter(pk=membership.pk).exists()
    event = AuditEvent.objects.get(verb="membership.removed")
    assert event.team_id == membership.team_id and event.data["role"] == "teamlead"
    assert alice_client.post(url, {"confirmed": "yes"}).status_code == 404


def test_portal_administration_is_granted_and_taken_away_after_confirming(alice_client, bob):
    url = f"/users/{bob.pk}/portal-admin/"
    response = alice_client.post(url, {"portal_admin": "yes"})
    assert b"Make bob a portal administrator?" in response.content and not is_portal_admin(_fresh(bob))
    alice_client.post(url, {"portal_admin": "yes", "confirmed": "yes"})
    assert is_portal_admin(_fresh(bob))
    response = alice_client.post(url, {"portal_admin": "no"})
    assert b"Take portal administration away from bob?" in response.content
    response = alice_client.post(url, {"portal_admin": "no", "confirmed": "yes"}, follow=True)
    assert b"bob is no longer a portal administrator." in response.content and not is_portal_admin(_fresh(bob))
    assert [e.verb for e in AuditEvent.objects.order_by("pk")] == ["user.portal_admin_granted",
                                                                    "user.portal_admin_revoked"]


def test_a_portal_administrator_cannot_demote_themselves(alice_client, alice, bob):
    set_portal_admin(bob)  # not the last one: the refusal is about oneself
    response = alice_client.post(f"/users/{alice.pk}/portal-admin/", {"portal_admin": "no", "confirmed": "yes"},
                                 follow=True)
    assert b"You cannot take away your own portal administration" in response.content
    assert is_portal_admin(_fresh(alice))
    assert b"You cannot take this away from yourself" in alice_client.get(f"/users/{alice.pk}/").content
    with pytest.raises(ValidationError, match="your own"):
        do_set_portal_admin(alice, False, acting_user=alice)


def test_the_last_portal_administrator_stays(alice, bob):
    with pytest.raises(ValidationError, match="last portal administrator"):
        do_set_portal_admin(alice, False, acting_user=None)
    assert is_portal_admin(_fresh(alice))
    set_portal_admin(bob)
    do_set_portal_admin(alice, False, acting_user=None)
    assert not is_portal_admin(_fresh(alice))


def test_a_new_password_from_the_user_page_goes_back_there(alice_client, bob):
    response = alice_client.post(f"/users/{bob.pk}/password/")
    assert re.search(rb'<code id="new-password">[^<]+</code>', response.content)
    assert f'href="/users/{bob.pk}/"'.encode() in response.content


def test_the_nav_shows_users_to_portal_administrators_and_teams_to_team_admins(alice_client, django_user_model):
    assert re.search(rb'<a href="/users/"[^>]*>Users</a>', alice_client.get("/").content)
    team_admin = _make_user(django_user_model, "tess", "admin")
    page = _client(team_admin).get("/").content
    assert b'href="/users/teams/"' in page and b'href="/users/"' not in page


def test_the_users_page_reads_the_same_number_of_queries_for_more_users(alice_client, django_user_model, sales):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get("/users/").status_code == 200
        return len(captured)

    _make_user(django_user_model, "u1", "admin")
    few = queries()
    for n in range(2, 8):
        user = _make_user(django_user_model, f"u{n}", "teamlead")
        set_role(user, "admin", sales)
        set_portal_admin(user)
    assert queries() == few
