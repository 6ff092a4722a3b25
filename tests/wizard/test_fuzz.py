"""Property-based fuzzing: whatever an admin (or an attacker) posts to a stage, the answer is never a 500,
and a refused stage leaves the draft as it was."""

from __future__ import annotations

import html

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl, normalize_dynamics_url
from setup_portal.instances.models import Instance
from setup_portal.wizard.models import AuthType, Setup, StageRecord
from tests import fuzz

from .helpers import new_setup, stage_url, walk

FIELDS = {
    "account": ["dynamics_account", "consent_admin", "register_app"],
    "environment": ["dynamics_url", "tenant", "cloud"],
    "application": ["auth_type", "account_types", "app_registered"],
    "keys": ["client_id", "client_secret", "secret_expires_on", "username", "password", "fill"],
    "permissions": ["confirmed"],
    "review": ["confirmed"],
    "authorize": ["confirmed"],
    "instance": ["name", "tags", "polling_enabled", "polling_resources", "polling_interval_minutes", "filter_nulls"],
}
DATE_FIELDS = {"secret_expires_on"}
# Names a form never asks for, which a hostile client sends anyway.
JUNK = {"\x00": fuzz.hostile_text, "csrfmiddlewaretoken": fuzz.hostile_text, "x" * 300: fuzz.hostile_text}


@pytest.fixture
def authorized_setup(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    Setup.objects.filter(pk=setup.pk).update(authorized_at=timezone.now())
    return setup


def _valid_records(setup: Setup) -> list[dict]:
    return fuzz.rows(StageRecord, setup=setup, valid=True)


# NUL bytes: Django's fields refuse them, but the record of the refused attempt kept them, and
# PostgreSQL's jsonb refuses "\u0000" -- a 500 on PostgreSQL only.
NUL_FIELDS = [("environment", "dynamics_url"), ("environment", "tenant"), ("environment", "cloud"),
              ("application", "auth_type"), ("application", "account_types"), ("keys", "client_id"),
              ("keys", "client_secret"), ("keys", "secret_expires_on"), ("instance", "name"), ("instance", "tags"),
              ("keys", "username"), ("keys", "password")]


def test_it_refuses_a_nul_byte_in_any_field_and_keeps_the_draft(alice_client, authorized_setup):
    for stage, field in NUL_FIELDS:
        if field == "username":  # the custom-authentication fields
            Setup.objects.filter(pk=authorized_setup.pk).update(auth_type=AuthType.CUSTOM)
        before, records = fuzz.snapshot(authorized_setup), _valid_records(authorized_setup)
        response = alice_client.post(stage_url(authorized_setup, stage), {field: "contoso\x00.crm.dynamics.com"})
        assert response.status_code == 400, (stage, field)
        assert fuzz.snapshot(authorized_setup) == before and _valid_records(authorized_setup) == records
        if stage == "instance":  # stage 8 creates the instance or nothing; it keeps no attempts
            continue
        attempt = authorized_setup.stage_records.filter(valid=False).latest("pk")
        assert attempt.messages
        if field in {"client_secret", "password"}:
            assert field not in attempt.values  # never kept, not even refused
        else:
            assert attempt.values[field] == "contoso\ufffd.crm.dynamics.com"


def test_the_refused_attempt_is_recorded_with_hostile_field_names(alice_client, authorized_setup):
    response = fuzz.post(alice_client, stage_url(authorized_setup, "environment"),
                         {"tenant": "\ud800", "\x00key": "\x00", "dynamics_url": "x"})
    assert response.status_code == 400
    values = authorized_setup.stage_records.get(valid=False).values
    # Names the form never asked for are not kept; the surrogate's invalid bytes never got past decoding.
    assert set(values) == {"tenant", "dynamics_url"} and set(values["tenant"]) == {"\ufffd"}


def test_a_nul_byte_in_a_refused_stage_is_shown_back_harmlessly(alice_client, authorized_setup):
    alice_client.post(stage_url(authorized_setup, "environment"), {"tenant": "con\x00toso", "cloud": "public"})
    page = html.unescape(alice_client.get(stage_url(authorized_setup, "environment")).content.decode())
    assert 'value="con\ufffdtoso"' in page


@pytest.mark.parametrize("stage", list(FIELDS))
def test_no_input_gives_a_500(alice_client, authorized_setup, stage):
    values = {name: fuzz.hostile_dates if name in DATE_FIELDS else fuzz.huge_or_hostile for name in FIELDS[stage]}

    @fuzz.fuzz(25 if len(FIELDS[stage]) > 1 else 10)  # a lone checkbox has little to explore
    @given(data=fuzz.form_data({**values, **JUNK}), custom=st.booleans())
    def check(data, custom):
        Setup.objects.filter(pk=authorized_setup.pk).update(
            auth_type=AuthType.CUSTOM if custom and stage == "keys" else AuthType.OAUTH2)
        before, records = fuzz.snapshot(authorized_setup), _valid_records(authorized_setup)
        response = fuzz.post(alice_client, stage_url(authorized_setup, stage), data)
        fuzz.assert_answered(response, lambda status: status in (200, 302, 400))
        if response.status_code == 400:
            assert fuzz.snapshot(authorized_setup) == before and _valid_records(authorized_setup) == records
        elif response["Location"].startswith("/instances/"):
            # Fuzzed input that is a valid instance: undo it so the next example hits the stage again.
            Instance.objects.filter(setup=authorized_setup).delete()
            Setup.objects.filter(pk=authorized_setup.pk).update(status=Setup.Status.DRAFT)
        else:
            assert response["Location"].startswith(f"/setup/{authorized_setup.pk}/")

    check()
    # Whatever was posted, the draft still opens.
    Setup.objects.filter(pk=authorized_setup.pk).update(status=Setup.Status.DRAFT)
    assert alice_client.get(f"/setup/{authorized_setup.pk}/", follow=True).status_code == 200


@fuzz.fuzz(20)
@given(params=fuzz.form_data({"q": fuzz.huge_or_hostile, "page": fuzz.hostile_text, "stage": fuzz.hostile_text,
                              "auth_type": fuzz.hostile_text, "sort": fuzz.hostile_text}),
       segment=fuzz.hostile_text)
def test_no_drafts_list_query_or_wizard_path_gives_a_500(alice_client, bob_client, authorized_setup, params,
                                                        segment):
    for client in (alice_client, bob_client):
        fuzz.assert_answered(fuzz.get(client, "/setup/", params))
        fuzz.assert_answered(fuzz.get(client, f"/setup/{authorized_setup.pk}/", params))
    fuzz.assert_answered(alice_client.get(f"/setup/{authorized_setup.pk}/{fuzz.quote_path(segment)}/"))
    fuzz.assert_answered(alice_client.get(f"/setup/{fuzz.quote_path(segment)}/"))


@fuzz.fuzz(15)
@given(data=fuzz.form_data({"confirmed": fuzz.hostile_text, "\x00": fuzz.hostile_text}))
def test_starting_and_discarding_take_no_input_to_trip_over(alice_client, data):
    response = fuzz.post(alice_client, "/setup/new/", data)
    fuzz.assert_answered(response, lambda status: status == 302)
    setup = Setup.objects.get(pk=response["Location"].split("/")[2])
    fuzz.assert_answered(fuzz.post(alice_client, f"/setup/{setup.pk}/discard/", data), lambda status: status == 302)
    fuzz.assert_answered(fuzz.post(alice_client, "/setup/sandbox/", data))


@fuzz.fuzz(300)
@given(raw=st.one_of(st.text(max_size=200), st.from_regex(r"https?://[a-z0-9.:@\[\]%-]{0,40}(/[ -~]{0,20})?")))
def test_the_url_guard_only_ever_lets_dynamics_hosts_through(raw):
    try:
        parsed = normalize_dynamics_url(raw, sandbox_allowed=False)
    except InvalidDynamicsUrl as exc:
        assert exc.message
        return
    assert parsed.url == "https://" + parsed.host
    assert parsed.host.endswith((".dynamics.com", ".microsoftdynamics.us", ".dynamics.cn"))
    assert ":" not in parsed.host and "@" not in parsed.host
