"""Teams scope every page: a team lead of team A never sees team B's instances or setups, and an
admin of team B cannot act on team A's (404, as if they did not exist)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from setup_portal.audit.models import AuditEvent, record
from setup_portal.events.models import Notification
from setup_portal.instances.access import visible_instances
from setup_portal.instances.forms import InstanceForm
from setup_portal.instances.models import Instance
from setup_portal.teams import permissions
from setup_portal.teams.roles import set_portal_admin, set_role
from setup_portal.wizard.models import Setup
from tests.api.rest.conftest import key_client
from tests.instances.factories import make_instance

pytestmark = pytest.mark.django_db

INSTANCE_PAGES = ["", "status.json", "progress/", "progress.json", "events/", "deliveries/"]
ADMIN_ACTIONS = ["test-connection/", "disable/", "enable/", "rotate-secret/", "delete/", "edit/", "token/"]


def test_a_team_lead_sees_only_their_teams_instances(a, b, client_of):
    lead = client_of(a.lead)
    for path in INSTANCE_PAGES:
        assert lead.get(f"/instances/{a.instance.pk}/{path}").status_code == 200, path
        assert lead.get(f"/instances/{b.instance.pk}/{path}").status_code == 404, path
    home = lead.get("/").content.decode()
    assert a.instance.name in home and b.instance.name not in home


def test_a_team_lead_reviews_only_their_teams_instances(a, b, client_of):
    lead = client_of(a.lead)
    assert lead.post(f"/instances/{b.instance.pk}/approve/", {"comment": ""}).status_code == 404
    assert Instance.objects.get(pk=b.instance.pk).review_state == Instance.Review.PENDING
    assert lead.post(f"/instances/{a.instance.pk}/approve/", {"comment": ""}).status_code == 302
    assert Instance.objects.get(pk=a.instance.pk).review_state == Instance.Review.APPROVED


@pytest.mark.parametrize("path", ADMIN_ACTIONS)
def test_an_admin_of_another_team_cannot_act_on_its_instances(a, b, client_of, path):
    admin_b = client_of(b.admin)
    assert admin_b.get(f"/instances/{a.instance.pk}/{path}").status_code == 404
    assert admin_b.post(f"/instances/{a.instance.pk}/{path}", {"confirmed": "yes"}).status_code == 404
    assert admin_b.get(f"/instances/{b.instance.pk}/{path}").status_code in (200, 302)  # their own: yes
    unchanged = Instance.objects.get(pk=a.instance.pk)
    assert unchanged.status == Instance.Status.READY and unchanged.name == a.instance.name


def test_an_admin_of_another_team_cannot_disable_its_instance(a, b, client_of):
    response = client_of(b.admin).post(f"/instances/{a.instance.pk}/disable/", {"confirmed": "yes"})
    assert response.status_code == 404
    assert Instance.objects.get(pk=a.instance.pk).status == Instance.Status.READY
    response = client_of(a.admin).post(f"/instances/{a.instance.pk}/disable/", {"confirmed": "yes"})
    assert response.status_code == 302
    assert Instance.objects.get(pk=a.instance.pk).status == Instance.Status.DISABLED


def test_other_teams_setups_answer_404(a, b, client_of):
    lead = client_of(a.lead)
    assert lead.get(f"/setup/{a.setup.pk}/account/").status_code == 200
    assert lead.get(f"/setup/{b.setup.pk}/account/").status_code == 404
    assert client_of(b.admin).post(f"/setup/{a.setup.pk}/discard/").status_code == 404
    assert Setup.objects.get(pk=a.setup.pk).status == Setup.Status.DRAFT
    drafts = lead.get("/setup/").content.decode()
    assert "team-a.crm4" in drafts and "team-b.crm4" not in drafts


def test_the_audit_log_and_its_csv_show_only_the_teams_events(a, b, client_of):
    record("instance.approved", a.instance, actor=a.lead)
    record("instance.approved", b.instance, actor=b.lead)
    record("user.created", a.lead, actor=a.admin)  # a user's event belongs to no team
    lead = client_of(a.lead)
    shown = [e.target_label for e in lead.get("/audit/").context["page"].object_list]
    assert a.instance.name in shown and b.instance.name not in shown and "lead_a" not in shown
    csv = b"".join(lead.get("/audit/export.csv").streaming_content).decode()
    assert a.instance.name in csv and b.instance.name not in csv
    portal_admin = client_of(_portal_admin(a))
    assert len(portal_admin.get("/audit/").context["page"].object_list) == AuditEvent.objects.count()


def _portal_admin(side):
    user = type(side.admin).objects.create_user("pat", "pat@example.com", "x")
    set_portal_admin(user)
    return user


def test_a_portal_administrator_sees_every_team_and_changes_none(a, b, client_of):
    pat = client_of(_portal_admin(a))
    for side in (a, b):
        assert pat.get(f"/instances/{side.instance.pk}/").status_code == 200
        assert pat.get(f"/setup/{side.setup.pk}/account/").status_code == 200
        assert pat.get(f"/instances/{side.instance.pk}/disable/").status_code == 403


def test_someone_in_two_teams_sees_both(a, b, client_of):
    set_role(a.lead, "admin", b.team)
    lead = client_of(a.lead)
    assert lead.get(f"/instances/{b.instance.pk}/disable/").status_code == 200  # admin in B
    assert lead.get(f"/instances/{a.instance.pk}/disable/").status_code == 403  # team lead in A
    assert set(visible_instances(a.lead)) == {a.instance, b.instance}
    assert permissions.team_ids(a.lead, "admin") == {b.team.pk}


def test_notifications_of_a_team_one_left_are_not_shown(a, client_of):
    note = Notification.objects.create(user=a.lead, instance=a.instance, kind="health_failing", message="Failing")
    lead = client_of(a.lead)
    assert list(lead.get("/notifications/").context["page"].object_list) == [note]
    set_role(a.lead, None, a.team)
    assert list(lead.get("/notifications/").context["page"].object_list) == []
    assert lead.post(f"/notifications/{note.pk}/read/").status_code == 404


def test_team_ids_are_read_once_per_user_object(a, b):
    user = type(a.lead).objects.get(pk=a.lead.pk)
    instances = [a.instance] + [make_instance(a.admin, team=a.team) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        assert all(permissions.can_view_instance(user, inst) for inst in instances)
        assert not permissions.can_view_instance(user, b.instance)
        assert not any(permissions.can_change_instance(user, inst) for inst in instances)
    assert len(queries) == 2  # the user's groups (portal administrator?) and memberships, once each


def test_new_setups_and_their_instances_take_the_admins_team(a, client_of):
    response = client_of(a.admin).post("/setup/new/")
    setup = Setup.objects.exclude(pk=a.setup.pk).get(owner=a.admin)
    assert response.status_code == 302 and setup.team == a.team
    inst = Instance.objects.create(name="from-setup", setup=setup, owner=a.admin, dynamics_url="https://x",
                                   tenant="t", auth_type="oauth2")
    assert inst.team == a.team
    assert AuditEvent.objects.get(verb="setup.created").team_id == a.team.pk


def test_instance_names_are_unique_per_team_and_a_refusal_names_no_other_team(a, b, client_of):
    admin = client_of(a.admin)
    # Team B's name is free in team A: on the Edit page, through the API and at the wizard's last stage.
    response = admin.post(f"/instances/{a.instance.pk}/edit/", {"name": b.instance.name.upper(), "tags": ""})
    assert response.status_code == 302
    api = key_client(a.admin)
    assert api.patch(f"/api/v1/instances/{a.instance.pk}", {"name": b.instance.name}).status_code == 200
    fabrikam = make_instance(b.admin, team=b.team, name="Fabrikam CRM")
    form = InstanceForm({"name": fabrikam.name}, setup=a.setup)
    assert form.is_valid(), form.errors
    # Team A's own names are refused, in words that say nothing about another team.
    other = make_instance(a.admin, team=a.team, name="Contoso EU")
    response = admin.post(f"/instances/{a.instance.pk}/edit/", {"name": "contoso eu", "tags": ""})
    assert response.status_code == 400
    assert "Your team already has an instance called “contoso eu”" in response.content.decode()
    refused = api.patch(f"/api/v1/instances/{a.instance.pk}", {"name": "CONTOSO EU"})
    assert refused.status_code == 409 and refused.json()["errors"]["name"] == [
        "Your team already has an instance called “CONTOSO EU”. Pick another name."]
    assert not InstanceForm({"name": "contoso eu"}, setup=a.setup).is_valid()
    # The database holds to it too (the exact name in the same team).
    with pytest.raises(IntegrityError), transaction.atomic():
        make_instance(a.admin, team=a.team, name=other.name)
    make_instance(b.admin, team=b.team, name=other.name)
