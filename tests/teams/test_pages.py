"""Team pages (/users/teams/): portal administrators create, rename and fill teams; a team's
admins see its members read-only; other teams are not found."""

from __future__ import annotations

import pytest
from django.test import Client

from setup_portal.accounts.actions import do_create_team
from setup_portal.audit.models import AuditEvent
from setup_portal.teams.models import Membership, Team, roles_of
from setup_portal.teams.roles import set_role
from tests.conftest import _make_user
from tests.instances.factories import make_instance


@pytest.fixture
def sales(alice):
    return do_create_team("Sales", acting_user=alice)


@pytest.fixture
def tess(db, django_user_model, sales):
    """Admin of Sales (not a portal administrator)."""
    user = _make_user(django_user_model, "tess", None)
    set_role(user, "admin", sales)
    return user


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_lists_teams_with_their_people_and_instances(alice_client, bob, sales, tess):
    page = alice_client.get("/users/teams/").content.decode()
    assert "Default team" in page and "Sales" in page and "Create a team" in page
    assert f'href="/users/teams/{sales.pk}/"' in page


def test_it_creates_a_team_and_says_what_next(alice_client):
    response = alice_client.post("/users/teams/", {"name": "  Field   service "}, follow=True)
    team = Team.objects.get(name="Field service")
    assert response.redirect_chain[-1][0] == f"/users/teams/{team.pk}/"
    assert "Team “Field service” created. Next: add its admins and team leads." in response.content.decode()
    assert b"Add its first admin" in response.content
    event = AuditEvent.objects.get(verb="team.created")
    assert event.team_id == team.pk and event.actor_label == "alice"


@pytest.mark.parametrize(("name", "message"), [
    ("sales", "A team named “sales” already exists"),
    ("", "Give the team a name."),
    ("   ", "Give the team a name."),
    ("x" * 101, "Keep the name under 101 characters."),
    ("Bad\x07name", "invisible control characters"),
])
def test_it_refuses_a_duplicate_or_empty_team_name(alice_client, sales, name, message):
    response = alice_client.post("/users/teams/", {"name": name})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Team.objects.count() == 2  # Default team and Sales


def test_it_renames_a_team_but_not_onto_another(alice_client, sales):
    default = Team.objects.default()
    response = alice_client.post(f"/users/teams/{sales.pk}/rename/", {"name": "default TEAM"})
    assert response.status_code == 400 and "A team named “default TEAM” already exists" in response.content.decode()
    response = alice_client.post(f"/users/teams/{sales.pk}/rename/", {"name": "Sales EMEA"}, follow=True)
    assert "“Sales” is now called “Sales EMEA”." in response.content.decode()
    assert Team.objects.get(pk=sales.pk).name == "Sales EMEA" and Team.objects.get(pk=default.pk).name == default.name
    event = AuditEvent.objects.get(verb="team.renamed")
    assert event.data == {"from": "Sales", "to": "Sales EMEA"}


def test_it_adds_a_member_and_changes_roles_from_the_team_page(alice_client, bob, sales):
    page = alice_client.get(f"/users/teams/{sales.pk}/").content.decode()
    assert "Add a member" in page and f'<option value="{bob.pk}">bob</option>' in page
    response = alice_client.post(f"/users/teams/{sales.pk}/members/", {"user": bob.pk, "role": "teamlead"},
                                 follow=True)
    assert b"bob is now Team lead of Sales." in response.content
    membership = Membership.objects.get(user=bob, team=sales)
    # A change made on the team's page comes back to it.
    response = alice_client.post(f"/users/memberships/{membership.pk}/role/",
                                 {"role": "admin", "back": "team", "confirmed": "yes"})
    assert response["Location"] == f"/users/teams/{sales.pk}/"
    response = alice_client.post(f"/users/memberships/{membership.pk}/remove/", {"back": "team"})
    assert b'name="back" value="team"' in response.content
    response = alice_client.post(f"/users/memberships/{membership.pk}/remove/", {"back": "team", "confirmed": "yes"})
    assert response["Location"] == f"/users/teams/{sales.pk}/"
    assert roles_of(bob) == {Team.objects.default().pk: "teamlead"}
    assert [e.verb for e in AuditEvent.objects.filter(team=sales).order_by("pk")] == [
        "team.created", "membership.added", "membership.role_changed", "membership.removed"]


def test_a_member_is_added_once(alice_client, bob):
    default = Team.objects.default()
    response = alice_client.post(f"/users/teams/{default.pk}/members/", {"user": bob.pk, "role": "admin"})
    assert response.status_code == 400 and b"they may be in this team already" in response.content
    assert roles_of(bob) == {default.pk: "teamlead"}


def test_a_team_admin_sees_their_own_teams_members_read_only(tess, sales, bob):
    client = _client(tess)
    page = client.get("/users/teams/").content.decode()
    assert "Sales" in page and "Default team" not in page and "Create a team" not in page
    page = client.get(f"/users/teams/{sales.pk}/").content.decode()
    assert "tess" in page and "Admin" in page
    assert "Ask a portal administrator" in page and "Change role" not in page and "Add a member" not in page
    # Another team is not found; changes are refused.
    assert client.get(f"/users/teams/{Team.objects.default().pk}/").status_code == 404
    assert client.post("/users/teams/", {"name": "Mine"}).status_code == 403
    assert client.post(f"/users/teams/{sales.pk}/rename/", {"name": "Mine"}).status_code == 403
    assert client.post(f"/users/teams/{sales.pk}/members/", {"user": bob.pk, "role": "admin"}).status_code == 403
    assert not Team.objects.filter(name="Mine").exists()
    assert not Membership.objects.filter(user=bob, team=sales).exists()


def test_team_leads_and_people_without_a_role_get_no_team_pages(bob_client, charlie_client, sales):
    for client in (bob_client, charlie_client):
        assert client.get("/users/teams/").status_code == 403
        assert client.get(f"/users/teams/{sales.pk}/").status_code == 403
    assert Client().get("/users/teams/").status_code == 302


def test_an_unknown_team_is_a_404_in_the_layout(alice_client):
    response = alice_client.get("/users/teams/999999/")
    assert response.status_code == 404
    assert b"There is nothing here" in response.content and b"Users</a>" in response.content


def test_the_team_page_counts_its_instances_and_links_to_them(alice, alice_client, sales, tess):
    make_instance(tess, team=sales, name="Sales CRM")
    page = alice_client.get(f"/users/teams/{sales.pk}/").content.decode()
    assert f'<a href="/instances/?team={sales.pk}">1 instance</a>' in page
    assert "Sales CRM" in alice_client.get(f"/instances/?team={sales.pk}").content.decode()
    assert ">1</td>" in alice_client.get("/users/teams/").content.decode()
