"""The portal's Dataverse client against the sandbox's Web API."""

from __future__ import annotations

from setup_portal.dataverse import client


def _token(sandbox) -> str:
    result = sandbox.confidential_client().acquire_token_for_client([f"{sandbox.info['dynamics_url']}/.default"])
    return result["access_token"]


def test_it_reads_the_tables_the_environment_has(sandbox):
    names = client.entity_set_names(sandbox.info["dynamics_url"], _token(sandbox))

    assert {"account", "accounts", "activitypointers", "annotations", "tasks"} <= names
    assert {"cr8a2_project", "cr8a2_projects", "cr8a2_milestones"} <= names
    assert "EntityDefinitions" not in names


def test_it_reads_who_it_is_and_the_organization(sandbox):
    token = _token(sandbox)

    assert client.who_am_i(sandbox.info["dynamics_url"], token)["UserId"]
    assert client.current_organization(sandbox.info["dynamics_url"], token)["name"] == \
        sandbox.info["organization_name"]
