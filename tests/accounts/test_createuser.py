"""`createuser NAME --role ... [--team ...] [--create-team] [--portal-admin]`."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from setup_portal.audit.models import AuditEvent
from setup_portal.teams.models import Team, roles_of
from setup_portal.teams.roles import is_portal_admin


def _user(name: str):
    return get_user_model().objects.get(username=name)


def test_without_a_team_the_role_is_in_the_default_team(db, capsys):
    call_command("createuser", "erin", "--role", "admin")
    assert "Created erin (Admin of Default team) with password:" in capsys.readouterr().out
    assert roles_of(_user("erin")) == {Team.objects.default().pk: "admin"}
    assert not is_portal_admin(_user("erin"))


def test_it_puts_the_user_in_an_existing_team_whatever_the_case(db, capsys):
    sales = Team.objects.create(name="Sales EMEA")
    call_command("createuser", "erin", "--role", "teamlead", "--team", "sales  emea")
    assert "(Team lead of Sales EMEA)" in capsys.readouterr().out
    assert roles_of(_user("erin")) == {sales.pk: "teamlead"}


def test_it_refuses_a_team_that_does_not_exist_unless_told_to_create_it(db, capsys):
    Team.objects.create(name="Sales")
    refusal = r"No team named “Sals” \(teams: “Default team”, “Sales”\)\. .*--create-team"
    with pytest.raises(CommandError, match=refusal):
        call_command("createuser", "erin", "--role", "admin", "--team", "Sals")
    assert not get_user_model().objects.filter(username="erin").exists()
    call_command("createuser", "erin", "--role", "admin", "--team", "Support", "--create-team")
    out = capsys.readouterr().out
    assert "Created team “Support”." in out and "(Admin of Support)" in out
    assert roles_of(_user("erin")) == {Team.objects.get(name="Support").pk: "admin"}
    assert AuditEvent.objects.filter(verb="team.created", actor_label="system").exists()


def test_it_creates_a_portal_administrator(db, capsys):
    call_command("createuser", "pat", "--portal-admin")
    assert "Created pat (portal administrator)" in capsys.readouterr().out
    assert is_portal_admin(_user("pat")) and roles_of(_user("pat")) == {}
    call_command("createuser", "quinn", "--portal-admin", "--role", "admin", "--team", "Default team")
    assert "(Admin of Default team, portal administrator)" in capsys.readouterr().out
    assert is_portal_admin(_user("quinn"))


@pytest.mark.parametrize(("args", "message"), [
    ([], "Give --role admin or --role teamlead"),
    (["--team", "Sales", "--portal-admin"], "--team needs --role"),
])
def test_it_says_what_is_missing(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("createuser", "erin", *args)


def test_it_refuses_a_name_taken_in_another_case(db):
    call_command("createuser", "erin", "--role", "admin")
    with pytest.raises(CommandError, match="already exists"):
        call_command("createuser", "Erin", "--role", "admin")
