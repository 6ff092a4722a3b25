"""Stage 4 asks Azure AD for a token with the keys at once: a wrong or expired secret is refused at
its field, not after sign-in and consent; when Azure AD cannot be reached the keys are kept."""

from __future__ import annotations

import html

import pytest

from setup_portal.wizard.models import Setup, StageRecord

from .helpers import CLIENT_ID, SECRET, in_a_year, new_setup, post_stage, sandbox_values, stage_url, walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox_keys_stage(alice_client, clean_sandbox):
    """A draft at stage 4 whose environment is the sandbox tenant."""
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys", sandbox_values())
    return setup


def keys(info: dict, **overrides) -> dict:
    return {"client_id": info["client_id"], "client_secret": info["client_secret"],
            "secret_expires_on": in_a_year(), **overrides}


def field_errors(response, name: str) -> list[str]:
    return [str(e) for e in response.context["form"].errors.get(name, [])]


def messages_of(client, response) -> str:
    return html.unescape(client.get(response["Location"]).content.decode())


def test_it_accepts_keys_azure_accepts(alice_client, sandbox_keys_stage, sandbox):
    response = post_stage(alice_client, sandbox_keys_stage, "keys", keys(sandbox.info))
    assert response.status_code == 302 and response["Location"] == stage_url(sandbox_keys_stage, "permissions")
    assert "Azure AD accepted this client ID and secret." in messages_of(alice_client, response)


def test_it_refuses_a_wrong_secret_at_its_field(alice_client, sandbox_keys_stage, sandbox):
    response = post_stage(alice_client, sandbox_keys_stage, "keys", keys(sandbox.info, client_secret=SECRET))
    assert response.status_code == 400
    [error] = field_errors(response, "client_secret")
    assert "AADSTS7000215" in error and "not its Secret ID" in error
    assert SECRET not in response.content.decode()
    failed = StageRecord.objects.get(setup=sandbox_keys_stage, stage="keys", valid=False)
    assert any("AADSTS7000215" in m for m in failed.messages) and SECRET not in str(failed.values)
    sandbox_keys_stage.refresh_from_db()
    assert sandbox_keys_stage.client_secret == ""  # a refused secret is not kept


def test_it_refuses_an_expired_secret_at_its_field(alice_client, sandbox_keys_stage, sandbox):
    response = post_stage(alice_client, sandbox_keys_stage, "keys",
                          keys(sandbox.info, client_secret=sandbox.info["expired_client_secret"]))
    assert response.status_code == 400
    [error] = field_errors(response, "client_secret")
    assert "AADSTS7000222" in error and "expired" in error


def test_it_refuses_an_unknown_client_id_at_its_field(alice_client, sandbox_keys_stage, sandbox):
    response = post_stage(alice_client, sandbox_keys_stage, "keys", keys(sandbox.info, client_id=CLIENT_ID))
    assert response.status_code == 400
    [error] = field_errors(response, "client_id")
    assert "AADSTS700016" in error


def test_it_checks_the_kept_secret_too(alice_client, sandbox_keys_stage, sandbox):
    assert post_stage(alice_client, sandbox_keys_stage, "keys", keys(sandbox.info)).status_code == 302
    Setup.objects.filter(pk=sandbox_keys_stage.pk).update(client_secret=sandbox.info["expired_client_secret"])
    response = post_stage(alice_client, sandbox_keys_stage, "keys", keys(sandbox.info, client_secret=""))
    assert response.status_code == 400 and "AADSTS7000222" in field_errors(response, "client_secret")[0]


@pytest.mark.parametrize("fault", [{"reset_connection": True}, {"status": 503}])
def test_it_keeps_the_keys_when_azure_cannot_be_reached(alice_client, sandbox_keys_stage, sandbox, fault):
    sandbox.faults(endpoint="token", times=10, **fault)
    response = post_stage(alice_client, sandbox_keys_stage, "keys", keys(sandbox.info))
    assert response.status_code == 302 and response["Location"] == stage_url(sandbox_keys_stage, "permissions")
    page = messages_of(alice_client, response)
    assert "Azure AD could not be reached to check the client secret" in page
    assert "checked again when you authorize" in page
    sandbox_keys_stage.refresh_from_db()
    assert sandbox_keys_stage.client_secret == sandbox.info["client_secret"]


def test_it_never_calls_microsoft_from_a_test(alice_client):
    """A real-cloud setup: the check is refused before it leaves the machine, and the keys are kept."""
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    response = post_stage(alice_client, setup, "keys")
    assert response.status_code == 302
    assert "could not be reached" in messages_of(alice_client, response)


def test_the_sandbox_fill_still_works(alice_client, sandbox_keys_stage):
    response = alice_client.post(stage_url(sandbox_keys_stage, "keys"), {"fill": "sandbox"})
    assert response.status_code == 302 and response["Location"] == stage_url(sandbox_keys_stage, "permissions")


def test_custom_authentication_asks_azure_nothing_at_this_stage(alice_client, clean_sandbox):
    setup = new_setup(alice_client)
    values = sandbox_values()
    values["application"] = {"auth_type": "custom", "account_types": "single"}
    walk(alice_client, setup, "keys", values)
    clean_sandbox.faults(endpoint="*", status=503, times=50)
    response = post_stage(alice_client, setup, "keys", {"username": "sync@contoso.com", "password": "Pa55word!x"})
    assert response.status_code == 302
    assert "could not be reached" not in messages_of(alice_client, response)
