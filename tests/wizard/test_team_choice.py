"""Stage 1 and the setup's team: an admin of several teams picks one (only teams they are an
admin of); an admin of one team gets it without being asked; the instance takes the setup's team."""

from __future__ import annotations

import re

import pytest

from setup_portal.accounts.actions import do_create_team
from setup_portal.instances.actions import do_create_instance
from setup_portal.teams.models import Team
from setup_portal.teams.roles import set_role
from setup_portal.wizard.models import Setup
from tests.wizard.helpers import VALID, new_setup, stage_url


@pytest.fixture
def sales(alice):
    team = do_create_team("Sales", acting_user=alice)
    set_role(alice, "admin", team)
    return team


def _checked(page: str) -> list[str]:
    return re.findall(r'<input type="radio" name="team" value="(\d+)"[^>]*checked', page)


def test_an_admin_of_one_team_is_not_asked(alice_client):
    setup = new_setup(alice_client)
    page = alice_client.get(stage_url(setup, "account")).content.decode()
    assert 'name="team"' not in page
    assert "Team: <strong>Default team</strong>" in page
    assert alice_client.post(stage_url(setup, "account"), VALID["account"]).status_code == 302
    assert Setup.objects.get(pk=setup.pk).team == Team.objects.default()


def test_an_admin_of_several_teams_must_pick_one(alice_client, sales):
    setup = new_setup(alice_client)
    page = alice_client.get(stage_url(setup, "account")).content.decode()
    assert "Default team" in page and "Sales" in page and _checked(page) == []
    response = alice_client.post(stage_url(setup, "account"), VALID["account"])
    assert response.status_code == 400
    assert b"Pick the team this endpoint is for." in response.content
    response = alice_client.post(stage_url(setup, "account"), {**VALID["account"], "team": sales.pk})
    assert response.status_code == 302
    setup.refresh_from_db()
    assert setup.team == sales
    record = setup.stage_records.get(stage="account", valid=True)
    assert record.values["team_id"] == sales.pk
    # Back on stage 1, the pick is shown.
    assert _checked(alice_client.get(stage_url(setup, "account")).content.decode()) == [str(sales.pk)]


def test_only_teams_the_admin_is_an_admin_of_are_offered(alice, alice_client, sales):
    support = do_create_team("Support", acting_user=alice)
    set_role(alice, "teamlead", support)
    setup = new_setup(alice_client)
    page = alice_client.get(stage_url(setup, "account")).content.decode()
    assert "Support" not in page
    response = alice_client.post(stage_url(setup, "account"), {**VALID["account"], "team": support.pk})
    assert response.status_code == 400
    assert b"Pick one of the listed teams; you are an admin of those." in response.content
    assert Setup.objects.get(pk=setup.pk).team_id != support.pk


def test_the_instance_belongs_to_the_setups_team(alice, alice_client, sales):
    setup = new_setup(alice_client)
    alice_client.post(stage_url(setup, "account"), {**VALID["account"], "team": sales.pk})
    setup.refresh_from_db()
    job = do_create_instance(setup, name="Sales CRM", tags=[], polling_enabled=False, polling_resources=[],
                             polling_interval_minutes=15, filter_nulls=True, acting_user=alice)
    assert job.instance.team == sales


def test_the_sandbox_shortcut_asks_an_admin_of_several_teams_for_the_team(alice_client, sales, settings):
    settings.SANDBOX_ENABLED = True
    page = alice_client.get("/setup/new/").content.decode()
    assert f'<option value="{sales.pk}">Sales</option>' in page
    response = alice_client.post("/setup/sandbox/", {"team": "999999"}, follow=True)
    assert b"Pick the team the sandbox endpoint is for." in response.content and not Setup.objects.exists()
    response = alice_client.post("/setup/sandbox/", {"team": sales.pk})
    setup = Setup.objects.get()
    assert response["Location"] == stage_url(setup, "review") and setup.team == sales
    assert "<dt>Team</dt><dd>Sales</dd>" in alice_client.get(response["Location"]).content.decode()


def test_the_sandbox_shortcut_does_not_ask_an_admin_of_one_team(alice_client, settings):
    settings.SANDBOX_ENABLED = True
    assert b'name="team"' not in alice_client.get("/setup/new/").content
    alice_client.post("/setup/sandbox/")
    assert Setup.objects.get().team == Team.objects.default()
