"""The one place that decides who may act on an instance or a setup: the rule matrix, and the
pages that ask it."""

from __future__ import annotations

import pytest

from setup_portal.instances.models import Instance
from setup_portal.teams import permissions
from setup_portal.wizard.models import Setup
from tests.conftest import _client_for, _make_user
from tests.instances.factories import make_instance

pytestmark = pytest.mark.django_db

INSTANCE_RULES = ["can_view_instance", "can_change_instance", "can_review_instance"]
# alice: admin (owns the instance), bob: team lead, charlie: no role, dave: another admin.
EXPECTED = {
    "alice": {"can_view_instance": True, "can_change_instance": True, "can_review_instance": False},
    "bob": {"can_view_instance": True, "can_change_instance": False, "can_review_instance": True},
    "charlie": {"can_view_instance": False, "can_change_instance": False, "can_review_instance": False},
    "dave": {"can_view_instance": True, "can_change_instance": True, "can_review_instance": False},
}


@pytest.fixture
def dave(django_user_model):
    return _make_user(django_user_model, "dave", "admin")


@pytest.fixture
def users(alice, bob, charlie, dave):
    return {"alice": alice, "bob": bob, "charlie": charlie, "dave": dave}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_decides_who_may_act_on_an_instance(users, name):
    inst = make_instance(users["alice"])
    decided = {rule: getattr(permissions, rule)(users[name], inst) for rule in INSTANCE_RULES}
    assert decided == EXPECTED[name]


def test_it_lets_only_the_owner_edit_a_draft(users):
    draft = Setup.objects.create(owner=users["alice"])
    done = Setup.objects.create(owner=users["alice"], status=Setup.Status.COMPLETED)
    assert permissions.can_edit_setup(users["alice"], draft)
    assert not permissions.can_edit_setup(users["alice"], done)
    assert [name for name, user in users.items() if permissions.can_edit_setup(user, draft)] == ["alice"]
    assert [name for name, user in users.items() if permissions.can_view_setup(user, draft)] == ["alice", "bob",
                                                                                                "dave"]


def test_it_refuses_with_the_rules_reason(users):
    inst = make_instance(users["alice"])
    with pytest.raises(permissions.PermissionDenied, match="Only team leads review instances."):
        permissions.check(permissions.can_review_instance, users["alice"], inst)
    permissions.check(permissions.can_review_instance, users["bob"], inst)


def test_any_admin_may_change_any_admins_instance(users):
    """Today's rule, kept until teams narrow it: dave disables alice's instance."""
    inst = make_instance(users["alice"])
    response = _client_for(users["dave"]).post(f"/instances/{inst.pk}/disable/", {"confirmed": "yes"})
    assert response.status_code == 302
    assert Instance.objects.get(pk=inst.pk).status == Instance.Status.DISABLED


@pytest.mark.parametrize(("name", "path", "allowed"), [
    ("charlie", "", False), ("bob", "", True),
    ("bob", "disable/", False), ("dave", "rotate-secret/", True), ("charlie", "delete/", False),
])
def test_the_instance_pages_ask_it(users, name, path, allowed):
    inst = make_instance(users["alice"])
    response = _client_for(users[name]).get(f"/instances/{inst.pk}/{path}")
    assert (response.status_code == 200) is allowed
    if not allowed:
        assert response.status_code == 403


def test_the_instance_page_offers_what_the_rules_allow(users):
    inst = make_instance(users["alice"])
    disable, approve = f'action="/instances/{inst.pk}/disable/"', f'formaction="/instances/{inst.pk}/approve/"'
    admin_page = _client_for(users["dave"]).get(f"/instances/{inst.pk}/").content.decode()
    assert disable in admin_page and approve not in admin_page
    lead_page = _client_for(users["bob"]).get(f"/instances/{inst.pk}/").content.decode()
    assert approve in lead_page and disable not in lead_page and inst.secret_hint not in lead_page
