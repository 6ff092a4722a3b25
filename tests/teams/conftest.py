"""Two teams: alice-like people per team, and one instance and one draft in each."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from setup_portal.teams.models import Team
from setup_portal.teams.roles import set_role
from setup_portal.wizard.models import Setup
from tests.conftest import _client_for, _make_user
from tests.instances.factories import make_instance


@dataclass
class Side:
    team: Team
    admin: object
    lead: object
    instance: object
    setup: object


def _side(django_user_model, name: str) -> Side:
    team = Team.objects.create(name=f"Team {name.upper()}")
    admin = _make_user(django_user_model, f"admin_{name}", None)
    lead = _make_user(django_user_model, f"lead_{name}", None)
    set_role(admin, "admin", team)
    set_role(lead, "teamlead", team)
    instance = make_instance(admin, team=team, name=f"team-{name}-crm")
    setup = Setup.objects.create(owner=admin, team=team, dynamics_url=f"https://team-{name}.crm4.dynamics.com")
    return Side(team, admin, lead, instance, setup)


@pytest.fixture
def a(db, django_user_model) -> Side:
    return _side(django_user_model, "a")


@pytest.fixture
def b(db, django_user_model) -> Side:
    return _side(django_user_model, "b")


@pytest.fixture
def client_of():
    return _client_for
