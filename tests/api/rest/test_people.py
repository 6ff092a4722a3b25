"""Teams, memberships and users through the management API (portal administrators)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client

from setup_portal.audit.models import AuditEvent
from setup_portal.teams.models import Membership, Team
from setup_portal.teams.roles import is_portal_admin, set_portal_admin

from .conftest import key_client


def test_it_creates_gets_and_renames_a_team(alice, alice_api):
    response = alice_api.post("/api/v1/teams", {"name": "  EMEA   sales "})
    assert response.status_code == 201, response.content
    team = response.json()
    assert team["name"] == "EMEA sales" and team["members"] == []
    assert response["Location"] == team["url"] == f"/api/v1/teams/{team['id']}"
    assert alice_api.get(team["url"]).json()["name"] == "EMEA sales"
    response = alice_api.patch(team["url"], {"name": "EMEA"})
    assert response.status_code == 200 and response.json()["name"] == "EMEA"
    assert list(AuditEvent.objects.filter(verb__startswith="team.").values_list("verb", flat=True)
                .order_by("id")) == ["team.created", "team.renamed"]


def test_it_answers_a_duplicate_team_name_with_a_conflict(alice, alice_api):
    Team.objects.create(name="EMEA")
    response = alice_api.post("/api/v1/teams", {"name": "emea"})
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith(":conflict")
    assert response.json()["errors"] == {"name": ["A team named “emea” already exists; pick another name."]}
    default = Team.objects.default()
    response = alice_api.patch(f"/api/v1/teams/{default.pk}", {"name": " emea "})
    assert response.status_code == 409 and "name" in response.json()["errors"]


def test_it_refuses_a_team_name_off_the_schema(alice, alice_api):
    for name in ("   ", "EM\x00EA", "EM\nEA"):
        response = alice_api.post("/api/v1/teams", {"name": name})
        assert response.status_code == 400, name
        assert response.json()["errors"] == {"name": ["Give the team a name, without invisible control characters."]}
    assert alice_api.post("/api/v1/teams", {"name": 12}).json()["errors"] == {"name": ["Send a string."]}
    assert alice_api.post("/api/v1/teams", {"name": "\tEMEA\tsales\n"}).json()["name"] == "EMEA sales"


def test_a_patch_without_a_name_changes_nothing(alice, alice_api):
    default = Team.objects.default()
    response = alice_api.patch(f"/api/v1/teams/{default.pk}", {})
    assert response.status_code == 200 and response.json()["name"] == default.name


def test_unknown_ids_answer_404(alice, alice_api):
    for path in ("/api/v1/teams/999999", "/api/v1/teams/abc", "/api/v1/users/999999", "/api/v1/users/-1",
                 "/api/v1/users/99999999999999999999999"):
        response = alice_api.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json", path
    assert alice_api.patch("/api/v1/memberships/999999", {"role": "admin"}).status_code == 404
    assert alice_api.delete("/api/v1/memberships/999999").status_code == 404
    assert alice_api.post("/api/v1/teams/999999/members", {"user": 1, "role": "admin"}).status_code == 404
    assert alice_api.post("/api/v1/users/999999/portal-admin").status_code == 404


def test_it_adds_a_member_changes_their_role_and_removes_them(alice, bob, alice_api):
    team = Team.objects.create(name="EMEA")
    response = alice_api.post(f"/api/v1/teams/{team.pk}/members", {"user": bob.pk, "role": "teamlead"})
    assert response.status_code == 201, response.content
    membership = response.json()
    assert (membership["username"], membership["team_name"], membership["role"]) == ("bob", "EMEA", "teamlead")
    again = alice_api.post(f"/api/v1/teams/{team.pk}/members", {"user": bob.pk, "role": "admin"})
    assert again.status_code == 409 and "user" in again.json()["errors"]
    members = alice_api.get(f"/api/v1/teams/{team.pk}").json()["members"]
    assert members == [{"membership": membership["id"], "user": bob.pk, "username": "bob", "role": "teamlead"}]
    response = alice_api.patch(membership["url"], {"role": "admin"})
    assert response.status_code == 200 and response.json()["role"] == "admin"
    assert Membership.objects.get(pk=membership["id"]).role == "admin"
    assert alice_api.patch(membership["url"], {"role": "owner"}).json()["errors"]["role"]
    unchanged = alice_api.patch(membership["url"], {})  # a PATCH sends only what changes
    assert unchanged.status_code == 200 and unchanged.json()["role"] == "admin"
    assert alice_api.delete(membership["url"]).status_code == 204
    assert not Membership.objects.filter(pk=membership["id"]).exists()
    assert alice_api.delete(membership["url"]).status_code == 404
    assert Membership.objects.get(user=bob).team == Team.objects.default()  # the other team is left alone


def test_it_refuses_a_member_of_the_wrong_shape(alice, alice_api):
    team = Team.objects.create(name="EMEA")
    url = f"/api/v1/teams/{team.pk}/members"
    assert set(alice_api.post(url, {}).json()["errors"]) == {"user", "role"}
    assert alice_api.post(url, {"user": "1", "role": "admin"}).json()["errors"] == {"user": ["Send a whole number."]}
    nobody = alice_api.post(url, {"user": 999999, "role": "admin"})
    assert nobody.status_code == 422 and nobody.json()["errors"]["user"]


def test_it_adds_a_user_and_shows_the_password_once(alice, alice_api):
    team = Team.objects.default()
    response = alice_api.post("/api/v1/users", {"username": "dora", "email": "dora@example.com",
                                                "team": team.pk, "role": "admin"})
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    user = get_user_model().objects.get(username="dora")
    assert user.check_password(body["password"])
    assert body["teams"][0]["team"] == team.pk and body["teams"][0]["role"] == "admin"
    assert not body["portal_administrator"] and response["Location"] == f"/api/v1/users/{user.pk}"
    shown = alice_api.get(body["url"]).json()
    assert "password" not in shown and shown["username"] == "dora"
    assert body["password"] not in str(AuditEvent.objects.filter(verb="user.created").values_list("data"))
    assert Client().login(username="dora", password=body["password"])


def test_it_adds_a_user_without_a_role_or_as_a_portal_administrator(alice, alice_api):
    body = alice_api.post("/api/v1/users", {"username": "erin"}).json()
    assert body["teams"] == [] and not body["portal_administrator"]
    body = alice_api.post("/api/v1/users", {"username": "fred", "portal_admin": True}).json()
    assert body["portal_administrator"] and is_portal_admin(get_user_model().objects.get(username="fred"))


def test_it_refuses_users_the_page_refuses(alice, alice_api):
    response = alice_api.post("/api/v1/users", {"username": "ALICE", "role": "admin",
                                                "team": Team.objects.default().pk})
    assert response.status_code == 409
    assert response.json()["errors"] == {"username": ["A user with this name already exists."]}
    response = alice_api.post("/api/v1/users", {"username": "a b", "email": "nope", "role": "admin"})
    assert response.status_code == 422 and set(response.json()["errors"]) == {"username", "email", "team"}
    errors = alice_api.post("/api/v1/users", {"username": "gus", "role": "admin", "team": 999999}).json()["errors"]
    assert errors == {"team": ["Pick one of the listed teams."]}
    assert alice_api.post("/api/v1/users", {"username": "gus", "portal_admin": "yes"}).status_code == 400
    assert not get_user_model().objects.filter(username="gus").exists()


def test_it_grants_and_revokes_portal_administration(alice, bob, alice_api):
    url = f"/api/v1/users/{bob.pk}/portal-admin"
    response = alice_api.post(url)
    assert response.status_code == 200 and response.json()["portal_administrator"] is True
    assert alice_api.post(url).json()["portal_administrator"] is True  # nothing changes
    response = alice_api.delete(url)
    assert response.status_code == 200 and response.json()["portal_administrator"] is False
    assert list(AuditEvent.objects.filter(verb__startswith="user.portal_admin").values_list("verb", flat=True)
                .order_by("id")) == ["user.portal_admin_granted", "user.portal_admin_revoked"]


def test_nobody_takes_away_their_own_portal_administration(alice, bob, alice_api):
    set_portal_admin(bob)
    response = alice_api.delete(f"/api/v1/users/{alice.pk}/portal-admin")
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Refused"
    assert response.json()["errors"] == {"portal_administrator": [
        "You cannot take away your own portal administration; ask another portal administrator."]}
    assert is_portal_admin(get_user_model().objects.get(pk=alice.pk))


def test_another_portal_administrator_may_take_it_away(alice, bob, alice_api):
    set_portal_admin(bob)
    bob_api = key_client(bob)
    assert bob_api.delete(f"/api/v1/users/{alice.pk}/portal-admin").status_code == 200
    assert alice_api.get("/api/v1/users").status_code == 403  # at once, for her key too
    assert bob_api.delete(f"/api/v1/users/{bob.pk}/portal-admin").status_code == 409  # the last one, himself


def test_superusers_stay_portal_administrators(alice, alice_api):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20)
    response = alice_api.delete(f"/api/v1/users/{root.pk}/portal-admin")
    assert response.status_code == 409 and "superuser" in response.json()["detail"]


def test_only_portal_administrators_manage_teams_and_users(alice, bob, charlie, bob_api, charlie_api):
    team = Team.objects.default()
    membership = Membership.objects.get(user=bob)
    calls = [("post", "/api/v1/teams", {"name": "X"}), ("get", f"/api/v1/teams/{team.pk}", None),
             ("patch", f"/api/v1/teams/{team.pk}", {"name": "X"}),
             ("post", f"/api/v1/teams/{team.pk}/members", {"user": charlie.pk, "role": "admin"}),
             ("patch", f"/api/v1/memberships/{membership.pk}", {"role": "admin"}),
             ("delete", f"/api/v1/memberships/{membership.pk}", None),
             ("post", "/api/v1/users", {"username": "mallory"}), ("get", f"/api/v1/users/{bob.pk}", None),
             ("post", f"/api/v1/users/{bob.pk}/portal-admin", None),
             ("delete", f"/api/v1/users/{alice.pk}/portal-admin", None)]
    for api in (bob_api, charlie_api):
        for method, path, body in calls:
            response = getattr(api, method)(path, body) if body is not None else getattr(api, method)(path)
            assert response.status_code == 403, (method, path)
            assert response.json()["detail"] in ("This is for portal administrators.",
                                                 "This page is for admins and team leads.")
    assert Membership.objects.get(user=bob).role == "teamlead" and not is_portal_admin(bob)
    assert Client().get(f"/api/v1/users/{bob.pk}").status_code == 401


def test_the_browser_session_needs_csrf_for_changes(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/api/v1/teams").status_code == 200
    assert browser.post("/api/v1/teams", {"name": "EMEA"}, content_type="application/json").status_code == 403
    assert not Team.objects.filter(name="EMEA").exists()
