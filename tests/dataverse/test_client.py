"""The portal's Dataverse client against the sandbox's Web API."""

from __future__ import annotations

from setup_portal.dataverse import client


def _token(sandbox, dynamics_url: str = "") -> str:
    resource = dynamics_url or sandbox.info["dynamics_url"]
    result = sandbox.confidential_client().acquire_token_for_client([f"{resource}/.default"])
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


def test_it_reads_the_environment_type_as_the_portal_names_it(sandbox):
    rehearsal = sandbox.info["dynamics_url"]
    production = rehearsal.rsplit("/", 1)[0] + "/contoso-eu"  # the seed's Customer (production) environment

    assert client.current_organization(rehearsal, _token(sandbox))["organization_type"] == "Sandbox"
    assert client.current_organization(production, _token(sandbox, production))["organization_type"] == "Production"


def test_an_organization_type_is_read_by_member_name_or_number():
    assert [client.organization_type(v) for v in ("Customer", "Secondary", "CustomerTest", "Developer", 5, 0)] == \
        ["Production", "Production", "Sandbox", "Developer", "Sandbox", "Production"]
    assert [client.organization_type(v) for v in ("Support", "", None, 99, True, "5")] == ["", "", "", "", "", ""]
