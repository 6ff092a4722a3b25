"""Users › Entra ID groups: portal administrators map groups to teams, roles and portal administration."""

from __future__ import annotations

import pytest

from setup_portal.audit.models import AuditEvent
from setup_portal.teams.models import GroupMapping, Team

pytestmark = pytest.mark.django_db
GROUP = "c4a8e2f6-3b1d-4f7a-9e5c-8d2b6a4f0e1c"


def test_it_maps_a_group_and_removes_the_mapping(alice_client):
    team = Team.objects.create(name="Sales")
    done = alice_client.post("/users/entra-groups/", {"group_id": GROUP, "team": team.pk, "role": "teamlead"},
                             follow=True)
    assert done.status_code == 200 and b"is mapped" in done.content and GROUP.encode() in done.content
    mapping = GroupMapping.objects.get()
    assert (mapping.team, mapping.role, mapping.portal_admin) == (team, "teamlead", False)
    created = AuditEvent.objects.get(verb="group_mapping.created")
    assert created.actor_label == "alice" and created.data["team"] == "Sales"
    removed = alice_client.post(f"/users/entra-groups/{mapping.pk}/remove/", follow=True)
    assert b"is removed" in removed.content and not GroupMapping.objects.exists()
    assert AuditEvent.objects.filter(verb="group_mapping.deleted").count() == 1


def test_it_maps_a_group_to_portal_administration_alone(alice_client):
    alice_client.post("/users/entra-groups/", {"group_id": GROUP, "portal_admin": "on"})
    mapping = GroupMapping.objects.get()
    assert mapping.team is None and mapping.role == "" and mapping.portal_admin


@pytest.mark.parametrize("data, message", [
    ({"group_id": "not-a-guid", "portal_admin": "on"}, b"An object ID looks like"),
    ({"group_id": GROUP}, b"Pick a team and role, or portal administration"),
    ({"group_id": GROUP, "team": "team"}, b"Pick the role the group"),
    ({"group_id": GROUP, "team": "team", "role": "owner"}, b"Pick one of the listed roles"),
    ({"group_id": GROUP, "team": "team", "role": "admin"}, b"is already mapped to Sales"),
])
def test_it_refuses_what_it_cannot_map(alice_client, data, message):
    team = Team.objects.create(name="Sales")
    GroupMapping.objects.create(group_id=GROUP, team=team, role="admin")
    data = {k: team.pk if v == "team" else v for k, v in data.items()}
    page = alice_client.post("/users/entra-groups/", data)
    assert page.status_code == 400 and message in page.content
    assert GroupMapping.objects.count() == 1


def test_it_is_for_portal_administrators(bob_client):
    assert bob_client.get("/users/entra-groups/").status_code == 403
    assert bob_client.post("/users/entra-groups/", {"group_id": GROUP, "portal_admin": "on"}).status_code == 403
    assert not GroupMapping.objects.exists()
