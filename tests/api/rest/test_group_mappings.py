"""Entra ID group mappings through the management API (portal administrators)."""

from __future__ import annotations

import uuid

from setup_portal.audit.models import AuditEvent
from setup_portal.teams.models import GroupMapping, Team

GROUP = "5b7e3c1a-9d2f-4e8b-a6c4-1f0e2d3c4b5a"


def test_it_maps_lists_and_removes_a_group(alice, alice_api):
    team = Team.objects.default()
    response = alice_api.post("/api/v1/group-mappings", {"group_id": GROUP, "team": team.pk, "role": "teamlead"})
    assert response.status_code == 201, response.content
    mapping = response.json()
    assert mapping["group_id"] == GROUP and mapping["team"] == team.pk and mapping["team_name"] == team.name
    assert mapping["role"] == "teamlead" and mapping["portal_admin"] is False
    assert response["Location"] == mapping["url"] == f"/api/v1/group-mappings/{mapping['id']}"
    response = alice_api.post("/api/v1/group-mappings", {"group_id": GROUP, "portal_admin": True})
    assert response.status_code == 201, response.content
    assert response.json()["team"] is None and response.json()["role"] == "" and response.json()["portal_admin"]

    listed = alice_api.get("/api/v1/group-mappings", {"page_size": 1})
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1 and listed.json()["next"]
    rest = alice_api.get(listed.json()["next"])
    assert len(rest.json()["results"]) == 1 and rest.json()["next"] is None
    assert {m["id"] for m in listed.json()["results"] + rest.json()["results"]} == set(
        GroupMapping.objects.values_list("pk", flat=True))

    assert alice_api.delete(mapping["url"]).status_code == 204
    assert not GroupMapping.objects.filter(pk=mapping["id"]).exists()
    assert alice_api.delete(mapping["url"]).status_code == 404
    verbs = list(AuditEvent.objects.filter(verb__startswith="group_mapping.").order_by("id")
                 .values_list("verb", flat=True))
    assert verbs == ["group_mapping.created", "group_mapping.created", "group_mapping.deleted"]
    assert AuditEvent.objects.filter(verb="group_mapping.created").first().actor == alice


def test_it_answers_a_group_mapped_again_with_a_conflict(alice, alice_api):
    team = Team.objects.default()
    GroupMapping.objects.create(group_id=uuid.UUID(GROUP), team=team, role="admin")
    response = alice_api.post("/api/v1/group-mappings", {"group_id": GROUP.upper(), "team": team.pk,
                                                          "role": "teamlead"})
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith(":conflict")
    assert response.json()["errors"] == {"group_id": [f"Group {GROUP} is already mapped to {team.name}; remove "
                                                      "that mapping first."]}
    assert GroupMapping.objects.count() == 1 and not AuditEvent.objects.filter(verb__startswith="group_mapping.")


def test_it_refuses_mappings_off_the_schema(alice, alice_api):
    cases = [({"group_id": "not-a-uuid", "portal_admin": True}, "group_id"),
             ({"team": 1, "role": "admin"}, "group_id"),
             ({"group_id": GROUP, "team": "1", "role": "admin"}, "team"),
             ({"group_id": GROUP, "portal_admin": "yes"}, "portal_admin"),
             ({"group_id": GROUP, "team": 1, "role": "owner"}, "role")]
    for body, field in cases:
        response = alice_api.post("/api/v1/group-mappings", body)
        assert response.status_code == 400, body
        assert field in response.json()["errors"], (body, response.json())
    assert alice_api.get("/api/v1/group-mappings", {"page_size": 201}).status_code == 400
    assert alice_api.get("/api/v1/group-mappings", {"page_size": 0}).status_code == 400
    assert not GroupMapping.objects.exists()


def test_it_refuses_what_the_page_refuses(alice, alice_api):
    team = Team.objects.default()
    cases = [({"group_id": GROUP}, "non_field_errors"),  # gives nothing
             ({"group_id": GROUP, "team": team.pk}, "non_field_errors"),  # a team without a role
             ({"group_id": GROUP, "team": 999999, "role": "admin"}, "team")]
    for body, field in cases:
        response = alice_api.post("/api/v1/group-mappings", body)
        assert response.status_code == 422, (body, response.content)
        assert list(response.json()["errors"]) == [field], (body, response.json())
    assert alice_api.get("/api/v1/group-mappings", {"cursor": "made-up"}).status_code == 422
    assert not GroupMapping.objects.exists()


def test_unknown_mapping_ids_answer_404(alice, alice_api):
    for path in ("/api/v1/group-mappings/999999", "/api/v1/group-mappings/abc",
                 "/api/v1/group-mappings/99999999999999999999999"):
        response = alice_api.delete(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json", path


def test_only_portal_administrators_manage_group_mappings(alice, bob, charlie, bob_api, charlie_api):
    mapping = GroupMapping.objects.create(group_id=uuid.UUID(GROUP), portal_admin=True)
    for api in (bob_api, charlie_api):
        for method, path, body in (("get", "/api/v1/group-mappings", None),
                                   ("post", "/api/v1/group-mappings", {"group_id": GROUP, "portal_admin": True}),
                                   ("delete", f"/api/v1/group-mappings/{mapping.pk}", None)):
            response = getattr(api, method)(path, body) if body else getattr(api, method)(path)
            assert response.status_code == 403, (method, path)
            assert response["Content-Type"] == "application/problem+json"
    assert GroupMapping.objects.count() == 1
