"""Drafts told apart, refused attempts collapsed, and the wizard's words fitting the choice made."""

from __future__ import annotations

import datetime as dt
import html
import re

from django.test import Client
from django.utils import timezone

from setup_portal.instances.models import Instance
from setup_portal.wizard.models import Setup, StageRecord
from tests.instances.factories import make_instance

from .helpers import SECRET, VALID, new_setup, post_stage, stage_url, walk
from .test_stages import _authorize

BAD_KEYS = {"client_id": "not-a-guid", "client_secret": SECRET, "secret_expires_on": "2030-01-01"}


def body(response) -> str:
    return html.unescape(response.content.decode())


def text(response) -> str:
    """The page as words, tags removed: what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body(response)))


def _refuse_keys(client, setup: Setup, times: int) -> None:
    for _ in range(times):
        assert post_stage(client, setup, "keys", BAD_KEYS).status_code == 400


def _age(setup: Setup, days: int) -> None:
    """Move a draft and its records `days` into the past (auto_now fields cannot be set by saving)."""
    past = timezone.now() - dt.timedelta(days=days)
    Setup.objects.filter(pk=setup.pk).update(updated_at=past, created_at=past)
    StageRecord.objects.filter(setup=setup).update(completed_at=past)


# Drafts list ------------------------------------------------------------------------------------

def test_it_tells_drafts_apart_by_label_auth_type_stage_name_and_last_activity(alice_client):
    fresh = new_setup(alice_client)
    custom = new_setup(alice_client)
    walk(alice_client, custom, "keys", {"application": {"auth_type": "custom", "account_types": "single"}})
    page = text(alice_client.get("/setup/"))
    assert "contoso.crm4.dynamics.com" in page  # the label: the Dynamics URL it connects
    assert "New setup, no environment yet" in page
    assert "Custom (user name and password)" in page and "not chosen yet" in page
    assert "Step 4 of 8 · Sign-in account" in page  # custom auth's name for stage 4
    assert "Step 1 of 8 · Account" in page
    assert "Last activity" in page
    assert f"/setup/{fresh.pk}/" in body(alice_client.get("/setup/"))


def test_it_collapses_repeated_refused_attempts_on_the_drafts_list(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    _refuse_keys(alice_client, setup, 3)
    page = text(alice_client.get("/setup/"))
    assert "3 attempts not accepted at Keys and client ID" in page
    assert page.count("The client ID is a GUID") == 1  # the latest reason, once


def test_a_refused_attempt_counts_as_activity(alice_client):
    old = new_setup(alice_client)
    walk(alice_client, old, "keys")
    newer = new_setup(alice_client)
    _age(old, days=3)
    _age(newer, days=1)
    page = body(alice_client.get("/setup/"))
    assert page.index(f"/setup/{newer.pk}/") < page.index(f"/setup/{old.pk}/")
    _refuse_keys(alice_client, old, 1)  # touches no setup field, but it is the latest thing done
    page = body(alice_client.get("/setup/"))
    assert page.index(f"/setup/{old.pk}/") < page.index(f"/setup/{newer.pk}/")
    assert "Last attempt not accepted" in html.unescape(page)


def test_team_leads_see_every_admins_drafts_told_apart(alice_client, bob_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions")
    page = text(bob_client.get("/setup/"))
    assert "Setups in progress" in page and "alice" in page
    assert "contoso.crm4.dynamics.com" in page and "OAuth 2.0 (authorization code)" in page
    assert "Step 5 of 8 · Permissions" in page


# Home page ------------------------------------------------------------------------------------

def test_the_home_page_names_the_stage_and_shows_refused_attempts(alice_client, bob_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    _refuse_keys(alice_client, setup, 2)
    page = text(alice_client.get("/"))
    assert "contoso.crm4.dynamics.com" in page
    assert "OAuth 2.0 (authorization code) · step 4: Keys and client ID" in page
    assert "“keys”" not in page and "stage “" not in page
    assert "2 attempts not accepted at Keys and client ID" in page
    lead = text(bob_client.get("/"))
    assert "alice · OAuth 2.0 (authorization code) · step 4: Keys and client ID" in lead


# Setup history ---------------------------------------------------------------------------------

def test_the_stage_history_collapses_refused_attempts(alice_client, bob_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    _refuse_keys(alice_client, setup, 4)
    assert post_stage(alice_client, setup, "keys").status_code == 302
    page = text(bob_client.get(stage_url(setup, "keys")))  # read-only view with the history
    assert page.count("Not accepted") == 1
    assert "Not accepted ×4" in page and "4 attempts since" in page
    assert "Done" in page


def test_the_instance_timeline_collapses_refused_attempts(alice_client, bob_client, alice):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    _refuse_keys(alice_client, setup, 3)
    assert post_stage(alice_client, setup, "keys").status_code == 302
    inst = make_instance(alice, setup=setup)
    page = text(bob_client.get(f"/instances/{inst.pk}/"))
    assert page.count("did not pass") == 1
    assert "did not pass ×3" in page and "3 attempts in a row" in page
    assert "Keys and client ID" in page


# "Set up endpoint" ---------------------------------------------------------------------------

def test_set_up_endpoint_starts_a_setup_when_there_are_no_drafts(alice_client):
    response = alice_client.get("/setup/")
    assert response.status_code == 302 and response["Location"] == "/setup/new/"
    page = body(alice_client.get("/setup/new/"))
    assert ">Start</button>" in page and "your drafts" not in page
    setup = new_setup(alice_client)
    assert alice_client.get("/setup/").status_code == 200
    assert "your drafts" in body(alice_client.get("/setup/new/"))
    # Discarding the last draft lands on the start page, not an empty list.
    response = alice_client.post(f"/setup/{setup.pk}/discard/", follow=True)
    assert response.redirect_chain[-1][0] == "/setup/new/"
    assert "Discarded the draft" in body(response)


def test_team_leads_get_the_empty_list_not_the_start_page(bob_client):
    response = bob_client.get("/setup/")
    assert response.status_code == 200 and "No admin has a setup in progress." in body(response)


# Words that fit the choice ------------------------------------------------------------------------

def _custom_warning(response) -> str:
    return re.search(r'<div class="callout callout-warn" id="custom-warning"[^>]*>', body(response)).group(0)


def test_the_custom_auth_warning_shows_only_once_custom_is_chosen(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "application")
    assert " hidden" in _custom_warning(alice_client.get(stage_url(setup, "application")))
    # Refused with custom picked: the page that comes back shows it (no JavaScript needed).
    response = post_stage(alice_client, setup, "application", {"auth_type": "custom"})
    assert response.status_code == 400 and " hidden" not in _custom_warning(response)
    assert post_stage(alice_client, setup, "application",
                      {"auth_type": "custom", "account_types": "single"}).status_code == 302
    assert " hidden" not in _custom_warning(alice_client.get(stage_url(setup, "application")))
    assert post_stage(alice_client, setup, "application", VALID["application"]).status_code == 302
    assert " hidden" in _custom_warning(alice_client.get(stage_url(setup, "application")))


def test_custom_auth_stage_4_heading_matches_the_step_bar(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys", {"application": {"auth_type": "custom", "account_types": "single"}})
    page = body(alice_client.get(stage_url(setup, "keys")))
    heading = re.search(r"<h1>(.*?)</h1>", page).group(1)
    current = re.search(r'aria-current="step"><span class="num">4</span> <span class="label">(.*?)</span>', page)
    assert heading == current.group(1) == "Sign-in account"
    assert "Keys and client ID" not in page


def test_a_team_lead_sees_no_secret_hint_in_a_read_only_draft(alice_client, bob_client, dave):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions")
    hint = Setup.objects.get(pk=setup.pk).secret_hint
    assert hint and hint[-4:] == SECRET[-4:]
    page = body(bob_client.get(stage_url(setup, "keys")))
    assert "OAuth Client Secret in Azure AD" in page and "saved" in page
    assert SECRET[-4:] not in page
    other_admin = Client()
    other_admin.force_login(dave)
    assert SECRET[-4:] in body(other_admin.get(stage_url(setup, "keys")))  # admins may see the hint


def test_polling_options_are_ignored_while_polling_is_off(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    _authorize(setup)
    page = body(alice_client.get(stage_url(setup, "instance")))
    assert 'data-controls="#polling-options"' in page and 'id="polling-options"' in page
    # Without JavaScript the options are still sent; with polling off they are not checked or kept.
    response = alice_client.post(stage_url(setup, "instance"), {
        "name": "Quiet instance", "polling_resources": ["widgets"], "polling_interval_minutes": "soon"})
    assert response.status_code == 302, body(response)[:2000]
    instance = Instance.objects.get(setup=setup)
    assert instance.polling_enabled is False and instance.polling_resources == []
