"""The OAuth callback takes whatever a browser (or anyone) sends it: never a 500, and a forged or
garbled answer authorizes nothing."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from setup_portal.azure.models import Authorization
from setup_portal.wizard.models import Setup
from tests import fuzz

from .conftest import start

pytestmark = pytest.mark.django_db

ANSWER = {"state": fuzz.huge_or_hostile, "code": fuzz.hostile_text, "error": fuzz.hostile_text,
          "error_description": fuzz.huge_or_hostile, "error_uri": fuzz.hostile_text,
          "admin_consent": st.one_of(st.just("True"), fuzz.hostile_text), "tenant": fuzz.hostile_text,
          "session_state": fuzz.hostile_text, "id_token": fuzz.hostile_text}


def test_a_state_postgresql_cannot_look_up_is_unknown(alice_client):
    # A NUL byte in the state reached the database lookup: a 500 on PostgreSQL.
    for response in (alice_client.get("/azure/callback/", {"state": "a\x00b"}),
                     alice_client.post("/azure/callback/", {"state": "a\x00b", "code": "x"}),
                     alice_client.get("/azure/callback/", {"state": "a\x00b", "admin_consent": "True"})):
        assert response.status_code == 400 and response.context["code"] == "state_unknown"


@fuzz.fuzz(40)
@given(answer=fuzz.form_data(ANSWER), signed_in=st.booleans(), method=st.sampled_from(["get", "post"]))
def test_no_callback_answer_gives_a_500(alice, answer, signed_in, method):
    client = Client()
    if signed_in:
        client.force_login(alice)
    fuzz.assert_answered(getattr(fuzz, method)(client, "/azure/callback/", answer))
    assert not Authorization.objects.exists()


def test_no_answer_to_a_pending_request_gives_a_500_or_authorizes(alice, alice_client, sbx, make_setup):
    """Garbled answers carrying the state of a real, pending sign-in: the sandbox refuses the code."""
    setup = make_setup(alice)

    @fuzz.fuzz(10)
    @given(answer=fuzz.form_data({name: ANSWER[name] for name in ("code", "error", "error_description")}))
    def check(answer):
        state = dict(parse_qsl(urlsplit(start(alice_client, setup)).query))["state"]
        response = fuzz.post(alice_client, "/azure/callback/", {**answer, "state": state})
        fuzz.assert_answered(response)
        if response.status_code == 303:
            fuzz.assert_answered(alice_client.get(response["Location"]))
        assert Setup.objects.get(pk=setup.pk).authorized_at is None

    check()
