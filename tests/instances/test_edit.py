"""Editing an instance: who may, what the audit keeps, unique names, trace logging that ends by
itself, and an edit after a change request going back to the team lead who asked."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from setup_portal.audit.models import AuditEvent
from setup_portal.instances.models import Instance
from tests import fuzz

from .factories import SECRET, make_instance

FORM = {"name": "contoso-crm", "tags": "sales, emea", "polling_enabled": "on", "polling_resources": ["accounts"],
        "polling_interval_minutes": "15", "filter_nulls": "on"}


@pytest.fixture
def inst(alice):
    return make_instance(alice, name="contoso-crm", tags=",sales,emea,", polling_enabled=True,
                         polling_resources=["accounts"], polling_interval_minutes=15, filter_nulls=True)


def _url(inst: Instance) -> str:
    return reverse("instances:edit", args=[inst.pk])


def _edit(client, inst: Instance, **changes):
    return client.post(_url(inst), {**FORM, **changes})


# Who may edit ------------------------------------------------------------------------------------

def test_it_sends_anonymous_visitors_to_sign_in(client, inst):
    response = client.get(_url(inst))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_team_leads_and_users_without_a_role(bob_client, charlie_client, inst, method):
    for client in (bob_client, charlie_client):
        response = getattr(client, method)(_url(inst), {**FORM, "name": "renamed"})
        assert response.status_code == 403
    assert Instance.objects.get(pk=inst.pk).name == "contoso-crm"
    assert not AuditEvent.objects.filter(verb="instance.updated").exists()


def test_it_shows_the_form_with_the_current_settings(alice_client, inst):
    response = alice_client.get(_url(inst))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="contoso-crm"' in html and 'value="sales, emea"' in html
    assert 'name="trace_logging"' in html
    assert SECRET not in html


def test_it_offers_editing_on_the_instance_page_to_admins_only(alice_client, bob_client, inst):
    assert _url(inst) in alice_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert _url(inst) not in bob_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()


def test_it_does_not_edit_a_deleted_instance(alice_client, inst):
    Instance.objects.filter(pk=inst.pk).update(status=Instance.Status.DELETED)
    assert alice_client.post(_url(inst), {**FORM, "name": "renamed"}).status_code == 404


# What an edit changes and records ------------------------------------------------------------------

def test_it_saves_the_changes_and_audits_each_fields_before_and_after(alice_client, alice, inst):
    response = _edit(alice_client, inst, name="Contoso CRM (prod)", tags="sales, prod",
                     polling_resources=["accounts", "contacts"], polling_interval_minutes="30", filter_nulls="")
    assert response.status_code == 302 and response["Location"] == reverse("instances:detail", args=[inst.pk])
    inst.refresh_from_db()
    assert (inst.name, inst.tag_list, inst.polling_resources, inst.polling_interval_minutes, inst.filter_nulls) == (
        "Contoso CRM (prod)", ["sales", "prod"], ["accounts", "contacts"], 30, False)
    event = AuditEvent.objects.get(verb="instance.updated")
    assert event.actor == alice
    assert event.data == {"changes": {
        "name": {"from": "contoso-crm", "to": "Contoso CRM (prod)"},
        "tags": {"from": ["sales", "emea"], "to": ["sales", "prod"]},
        "polling_resources": {"from": ["accounts"], "to": ["accounts", "contacts"]},
        "polling_interval_minutes": {"from": 15, "to": 30},
        "filter_nulls": {"from": True, "to": False},
    }}
    assert SECRET not in str(event.data)


def test_it_records_nothing_when_nothing_changed(alice_client, inst):
    response = _edit(alice_client, inst)
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(verb="instance.updated").exists()
    page = alice_client.get(response["Location"]).content.decode()
    assert "Nothing changed." in page


def test_it_keeps_the_polling_options_while_polling_is_off(alice_client, inst):
    _edit(alice_client, inst, polling_enabled="", polling_resources=[], polling_interval_minutes="")
    inst.refresh_from_db()
    assert inst.polling_enabled is False
    assert inst.polling_resources == ["accounts"] and inst.polling_interval_minutes == 15


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": ""}, "name", "Give the instance a name."),
    ({"name": "a/b"}, "name", "Use letters, digits, spaces"),
    ({"tags": "x" * 31}, "tags", "is not a usable tag"),
    ({"polling_resources": []}, "polling_resources", "Pick at least one resource"),
    ({"polling_interval_minutes": "0"}, "polling_interval_minutes", "at most once a minute"),
    ({"polling_resources": ["everything"]}, "polling_resources", "Pick from the listed resources."),
])
def test_it_explains_bad_input_with_400(alice_client, inst, changes, field, message):
    response = _edit(alice_client, inst, **changes)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Instance.objects.get(pk=inst.pk).name == "contoso-crm"
    assert not AuditEvent.objects.filter(verb="instance.updated").exists()


def test_it_keeps_names_unique_whatever_their_case(alice_client, alice, inst):
    make_instance(alice, name="Wingtip Toys")
    response = _edit(alice_client, inst, name="wingtip toys")
    assert response.status_code == 400
    assert "Your team already has an instance called “wingtip toys”. Pick another name." in response.content.decode()
    assert Instance.objects.get(pk=inst.pk).name == "contoso-crm"


def test_it_lets_an_instance_keep_or_recase_its_own_name(alice_client, inst):
    assert _edit(alice_client, inst, name="Contoso-CRM").status_code == 302
    assert Instance.objects.get(pk=inst.pk).name == "Contoso-CRM"


def test_the_action_refuses_a_taken_name_too(alice, inst):
    from setup_portal.instances import actions

    make_instance(alice, name="taken")
    with pytest.raises(actions.InstanceNameTaken):
        actions.do_update_instance(inst, name="TAKEN", acting_user=alice)
    assert Instance.objects.get(pk=inst.pk).name == "contoso-crm"


# Trace logging ------------------------------------------------------------------------------------

def test_trace_logging_lasts_24_hours_then_is_off(alice_client, inst):
    before = timezone.now()
    _edit(alice_client, inst, trace_logging="on")
    inst.refresh_from_db()
    assert before + dt.timedelta(hours=24) <= inst.trace_until <= timezone.now() + dt.timedelta(hours=24)
    event = AuditEvent.objects.get(verb="instance.updated")
    assert event.data["changes"] == {"trace_logging": {"from": False, "to": True}}
    assert event.data["trace_until"] == inst.trace_until.isoformat()
    page = alice_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert "Trace logging</dt><dd>on until" in page

    # Saving again with the box still ticked does not extend it.
    until = inst.trace_until
    _edit(alice_client, inst, trace_logging="on", tags="sales")
    inst.refresh_from_db()
    assert inst.trace_until == until

    # After 24 hours it counts as off, and the form shows it unticked.
    Instance.objects.filter(pk=inst.pk).update(trace_until=timezone.now() - dt.timedelta(seconds=1))
    assert 'name="trace_logging" id="id_trace_logging" checked' not in alice_client.get(_url(inst)).content.decode()


def test_trace_logging_can_be_switched_off(alice_client, inst):
    Instance.objects.filter(pk=inst.pk).update(trace_until=timezone.now() + dt.timedelta(hours=3))
    _edit(alice_client, inst)
    inst.refresh_from_db()
    assert inst.trace_until is None
    assert AuditEvent.objects.get(verb="instance.updated").data == {
        "changes": {"trace_logging": {"from": True, "to": False}}}


def test_team_leads_do_not_see_trace_logging(bob_client, inst):
    Instance.objects.filter(pk=inst.pk).update(trace_until=timezone.now() + dt.timedelta(hours=3))
    assert "Trace logging" not in bob_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()


# After a change request ---------------------------------------------------------------------------

def _request_changes(bob_client, inst: Instance, comment: str = "Poll contacts too") -> None:
    response = bob_client.post(reverse("instances:request_changes", args=[inst.pk]), {"comment": comment})
    assert response.status_code == 302


def test_an_edit_after_a_change_request_resubmits_it_to_the_team_lead(alice_client, bob_client, alice, bob, inst):
    _request_changes(bob_client, inst)
    response = _edit(alice_client, inst, polling_resources=["accounts", "contacts"])
    assert response.status_code == 302
    inst.refresh_from_db()
    assert inst.review_state == Instance.Review.RESUBMITTED
    assert inst.reviewed_by == bob and inst.review_comment == "Poll contacts too"
    event = AuditEvent.objects.get(verb="instance.resubmitted")
    assert event.actor == alice and event.data == {"requested_by": "bob", "changed": ["polling_resources"]}
    assert "is back with them for review" in alice_client.get(response["Location"]).content.decode()

    # The team lead who asked sees it on their home page, and can review it straight away.
    home = bob_client.get("/").content.decode()
    assert "back for your review" in home and "Poll contacts too" in home
    page = bob_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert "Resubmitted" in page and reverse("instances:approve", args=[inst.pk]) in page

    assert bob_client.post(reverse("instances:approve", args=[inst.pk]), {"comment": ""}).status_code == 302
    inst.refresh_from_db()
    assert inst.review_state == Instance.Review.APPROVED
    assert "back for your review" not in bob_client.get("/").content.decode()


def test_an_edit_without_a_change_request_leaves_the_review_alone(alice_client, bob_client, inst):
    bob_client.post(reverse("instances:approve", args=[inst.pk]), {"comment": ""})
    _edit(alice_client, inst, tags="sales")
    inst.refresh_from_db()
    assert inst.review_state == Instance.Review.APPROVED
    assert not AuditEvent.objects.filter(verb="instance.resubmitted").exists()


def test_a_change_request_offers_the_edit(alice_client, bob_client, inst):
    _request_changes(bob_client, inst)
    page = alice_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert "Edit the instance" in page and _url(inst) in page


def _mails() -> list[str]:
    folder = Path(settings.EMAIL_FILE_PATH)
    return [p.read_text() for p in folder.glob("*.log")] if folder.exists() else []


def test_the_team_lead_who_asked_gets_an_email(celery_worker, alice, bob, django_user_model):
    from tests.conftest import _client_for, _make_user

    other_lead = _make_user(django_user_model, "erin", "teamlead")
    inst = make_instance(alice, name="fabrikam-resubmit", polling_enabled=True, polling_resources=["accounts"])
    _request_changes(_client_for(bob), inst, comment="Add the leads")
    before = len(_mails())
    response = _edit(_client_for(alice), inst, name="fabrikam-resubmit", tags="",
                     polling_resources=["accounts", "leads"])
    assert response.status_code == 302
    deadline = time.monotonic() + 60  # a loaded machine's worker can be slow to pick the task up
    while len(_mails()) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    mails = [m for m in _mails() if "fabrikam-resubmit" in m]
    assert len(mails) == 1, celery_worker.log()[-3000:]
    (mail,) = mails
    assert "To: bob@example.com" in mail and other_lead.email not in mail
    assert "fabrikam-resubmit was changed and is back for your review" in mail
    assert "Add the leads" in mail and "Resources to poll: accounts -> accounts, leads" in mail
    assert f"/instances/{inst.pk}/" in mail


# Whatever comes in --------------------------------------------------------------------------------

EDIT = {"name": fuzz.huge_or_hostile, "tags": fuzz.huge_or_hostile,
        "polling_enabled": st.one_of(st.just("on"), fuzz.hostile_text),
        "polling_resources": st.one_of(st.just("accounts"), fuzz.hostile_text),
        "polling_interval_minutes": st.one_of(st.just("15"), fuzz.hostile_text),
        "filter_nulls": fuzz.hostile_text, "trace_logging": fuzz.hostile_text, "\x00": fuzz.hostile_text}


def test_no_edit_gives_a_500_and_a_refused_one_changes_nothing(alice, alice_client, inst):
    other = fuzz.snapshot(make_instance(alice, name="wingtip"))

    @fuzz.fuzz(40)
    @given(data=fuzz.form_data(EDIT))
    def check(data):
        before = fuzz.snapshot(Instance.objects.get(pk=inst.pk))
        response = fuzz.post(alice_client, _url(inst), data)
        fuzz.assert_answered(response, lambda status: status in (302, 400))
        if response.status_code == 400:
            assert fuzz.snapshot(Instance.objects.get(pk=inst.pk)) == before
        fuzz.assert_answered(fuzz.get(alice_client, _url(inst), data))

    check()
    assert fuzz.snapshot(Instance.objects.exclude(pk=inst.pk).get()) == other


def test_a_resubmitted_instance_counts_as_awaiting_review_on_the_dashboard(alice_client, bob_client, alice, inst):
    waiting = make_instance(alice, name="waiting")
    make_instance(alice, name="approved", review_state=Instance.Review.APPROVED)
    _request_changes(bob_client, inst)
    dashboard = reverse("instances:dashboard")
    assert bob_client.get(dashboard).context["counts"]["awaiting_review"] == 1
    _edit(alice_client, inst, tags="sales")
    response = bob_client.get(dashboard)
    assert response.context["counts"]["awaiting_review"] == 2
    assert "?review=awaiting" in response.content.decode()
    listed = bob_client.get(dashboard, {"review": "awaiting", "sort": "name"}).context["page"].object_list
    assert [row.name for row in listed] == [inst.name, waiting.name]
