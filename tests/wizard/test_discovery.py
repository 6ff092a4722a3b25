"""Environment stage: "Find my environments" signs the admin in with the public client (the real
msal against the sandbox tenant), lists the environments from the Global Discovery Service, and
the admin picks one; the pick passes the URL guard, disabled ones are refused, no token is kept."""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from setup_portal.azure import discovery
from setup_portal.azure.client import AzureError
from setup_portal.azure.clouds import Cloud
from setup_portal.azure.errors import explain
from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.crypto import EncryptedTextField, decrypt
from setup_portal.wizard.forms import DiscoveryForm
from setup_portal.wizard.models import Setup

from .helpers import TENANT, new_setup, stage_url, walk


def _find(client, setup: Setup, service: str = "sandbox", tenant: str = ""):
    return client.post(stage_url(setup, "environment"), {"find": "1", "find-service": service,
                                                         "find-tenant": tenant})


def _sign_in_and_answer(client, sandbox, setup: Setup, **sign_in):
    """Find my environments → the sandbox's sign-in page → the posted answer → back at the stage."""
    response = _find(client, setup)
    assert response.status_code == 302, response.content.decode()[:2000]
    auth_uri = response["Location"]
    assert auth_uri.startswith(sandbox.info["browser_base"])
    action, fields = sandbox.browser_answer(auth_uri, **sign_in)
    assert action.endswith("/azure/callback/")
    posted = client.post("/azure/callback/", fields)
    assert posted.status_code == 303, posted.content.decode()[:2000]
    outcome = client.get(posted["Location"])
    assert outcome.status_code == 302, outcome.content.decode()[:2000]
    assert outcome["Location"] == stage_url(setup, "environment")
    return auth_uri, fields


@pytest.fixture
def at_environment(alice_client, clean_sandbox):
    clean_sandbox.reset()
    setup = new_setup(alice_client)
    walk(alice_client, setup, "environment")
    return setup


def _found(setup: Setup) -> dict[str, dict]:
    flow = discovery.current(setup)
    assert flow is not None
    return {env["unique_name"]: env for env in flow.discovered["environments"]}


def test_it_chooses_the_discovery_host_per_cloud():
    assert discovery.service_base("commercial") == "https://globaldisco.crm.dynamics.com"
    assert discovery.service_base("gcc") == "https://globaldisco.crm9.dynamics.com"
    assert discovery.service_base("usg") == "https://globaldisco.crm.microsoftdynamics.us"
    assert discovery.service_base("dod") == "https://globaldisco.crm.appsplatform.us"
    assert discovery.service_base("china") == "https://globaldisco.crm.dynamics.cn"
    creds = discovery.credentials("dod", TENANT)
    # DoD and GCC High sign in at the US Government authority; GCC signs in worldwide.
    assert (creds.cloud, creds.use_sandbox, creds.client_id) == (Cloud.USGOV, False, "")
    assert discovery.credentials("gcc", TENANT).cloud == Cloud.PUBLIC
    assert discovery.credentials("china", TENANT).cloud == Cloud.CHINA
    # The scope asked for is the service's user_impersonation (client._delegated_scopes).
    assert f"{creds.dynamics_url}/user_impersonation" == "https://globaldisco.crm.appsplatform.us/user_impersonation"


def test_it_offers_the_sandbox_tenant_only_when_the_sandbox_is_on(db, alice):
    setup = Setup.objects.create(owner=alice)
    with override_settings(SANDBOX_ENABLED=True):
        assert "sandbox" in dict(DiscoveryForm(setup=setup).fields["service"].choices)
    with override_settings(SANDBOX_ENABLED=False):
        assert "sandbox" not in dict(DiscoveryForm(setup=setup).fields["service"].choices)
        assert not DiscoveryForm({"find-service": "sandbox"}, setup=setup).is_valid()


def test_it_asks_for_a_tenant_outside_the_sandbox(alice_client, db):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "environment")
    response = _find(alice_client, setup, service="commercial", tenant="common")
    assert response.status_code == 400
    assert "is not one directory" in html.unescape(response.content.decode())
    assert not AuthFlow.objects.filter(purpose=AuthFlow.Purpose.DISCOVERY).exists()


def test_it_signs_in_with_the_public_client_and_the_discovery_scope(alice_client, at_environment, clean_sandbox):
    auth_uri, _ = _sign_in_and_answer(alice_client, clean_sandbox, at_environment)
    assert f"client_id={clean_sandbox.info['public_client_id']}" in auth_uri
    assert "response_mode=form_post" in auth_uri and "code_challenge_method=S256" in auth_uri
    assert "user_impersonation" in auth_uri and "dataverse" not in auth_uri


def test_it_lists_the_environments_and_saves_the_picked_one(alice_client, at_environment, clean_sandbox):
    _sign_in_and_answer(alice_client, clean_sandbox, at_environment)
    page = html.unescape(alice_client.get(stage_url(at_environment, "environment")).content.decode())
    assert "Pick an environment" in page
    for name in ("Contoso", "Contoso Europe", "Contoso Archive (disabled)"):
        assert name in page
    found = _found(at_environment)
    archive, europe = found["org9f02c7e1"], found["org3b81d0c4"]
    assert f'value="{archive["id"]}" id="id_environment_2" disabled' in page
    assert (europe["region"], europe["state"], europe["usable"]) == ("EUR", 0, True)
    assert (europe["kind"], found["org7c2e41a9"]["kind"]) == ("Production", "Sandbox")  # OrganizationType 0, 5

    response = alice_client.post(stage_url(at_environment, "environment"), {
        "environment": europe["id"], "dynamics_url": "", "tenant": clean_sandbox.info["tenant_id"],
        "cloud": "public"})

    assert response.status_code == 302, response.content.decode()[:3000]
    at_environment.refresh_from_db()
    assert at_environment.dynamics_url == f"{clean_sandbox.info['backchannel_base']}/dataverse/contoso-eu"
    assert at_environment.use_sandbox and at_environment.tenant == clean_sandbox.info["tenant_id"]
    assert discovery.current(at_environment) is None  # picked: the list is forgotten
    assert not AuthFlow.objects.filter(discovered__has_key="environments").exists()


def test_it_refuses_a_disabled_environment(alice_client, at_environment, clean_sandbox):
    _sign_in_and_answer(alice_client, clean_sandbox, at_environment)
    archive = _found(at_environment)["org9f02c7e1"]

    response = alice_client.post(stage_url(at_environment, "environment"), {
        "environment": archive["id"], "dynamics_url": "", "tenant": clean_sandbox.info["tenant_id"],
        "cloud": "public"})

    assert response.status_code == 400
    assert "is disabled" in html.unescape(response.content.decode())
    at_environment.refresh_from_db()
    assert not at_environment.dynamics_url.endswith("/contoso-archive")


def test_it_refuses_an_id_that_is_not_in_the_list_and_still_takes_a_typed_url(alice_client, at_environment,
                                                                               clean_sandbox):
    _sign_in_and_answer(alice_client, clean_sandbox, at_environment)
    values = {"dynamics_url": "", "tenant": clean_sandbox.info["tenant_id"], "cloud": "public"}
    response = alice_client.post(stage_url(at_environment, "environment"), dict(values, environment="x' OR 1=1"))
    assert response.status_code == 400
    assert "not in the list" in html.unescape(response.content.decode())
    response = alice_client.post(stage_url(at_environment, "environment"), values)
    assert response.status_code == 400
    assert "Pick an environment from the list, or type its URL." in html.unescape(response.content.decode())

    typed = dict(values, dynamics_url=clean_sandbox.info["dynamics_url"])
    assert alice_client.post(stage_url(at_environment, "environment"), typed).status_code == 302
    at_environment.refresh_from_db()
    assert at_environment.dynamics_url == clean_sandbox.info["dynamics_url"]


def test_the_pick_goes_through_the_url_guard(alice_client, at_environment, clean_sandbox):
    _sign_in_and_answer(alice_client, clean_sandbox, at_environment)
    flow = discovery.current(at_environment)
    europe = next(e for e in flow.discovered["environments"] if e["unique_name"] == "org3b81d0c4")
    # Whatever the list said, the URL is checked again when it is picked.
    europe["url"] = "https://169.254.169.254/latest"
    flow.save(update_fields=["discovered"])

    response = alice_client.post(stage_url(at_environment, "environment"), {
        "environment": europe["id"], "dynamics_url": "", "tenant": clean_sandbox.info["tenant_id"],
        "cloud": "public"})

    assert response.status_code == 400
    at_environment.refresh_from_db()
    assert "169.254" not in at_environment.dynamics_url


def test_it_keeps_no_token_from_the_sign_in(alice_client, at_environment, clean_sandbox):
    _, answer = _sign_in_and_answer(alice_client, clean_sandbox, at_environment)

    assert not Authorization.objects.exists()
    flow = AuthFlow.objects.get(purpose=AuthFlow.Purpose.DISCOVERY)
    assert flow.flow == "" and flow.consumed_at is not None  # the PKCE verifier went with the claim
    stored = json.dumps(flow.discovered)
    assert "eyJ" not in stored and answer["code"] not in stored
    # Every encrypted column of every table: nothing that decrypts holds a token or a token cache.
    with connection.cursor() as cursor:
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedTextField):
                    continue
                table, column = (connection.ops.quote_name(n) for n in (model._meta.db_table, field.column))
                cursor.execute(f"SELECT {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                for (value,) in cursor.fetchall():
                    plain = decrypt(value)
                    assert "eyJ" not in plain and "refresh_token" not in plain.lower() and "AccessToken" not in plain, \
                        f"{model._meta.label}.{field.column}"


def test_the_list_expires(alice_client, at_environment, clean_sandbox):
    _sign_in_and_answer(alice_client, clean_sandbox, at_environment)
    AuthFlow.objects.filter(purpose=AuthFlow.Purpose.DISCOVERY).update(
        consumed_at=timezone.now() - discovery.LIST_LIFETIME - timedelta(seconds=1))

    page = alice_client.get(stage_url(at_environment, "environment")).content.decode()

    assert "Pick an environment" not in page
    assert AuthFlow.objects.get(purpose=AuthFlow.Purpose.DISCOVERY).discovered == {}


def test_a_refused_sign_in_explains_and_leads_back_to_the_stage(alice_client, at_environment, clean_sandbox):
    response = _find(alice_client, at_environment)
    state = dict(p.split("=", 1) for p in response["Location"].split("?", 1)[1].split("&"))["state"]

    posted = alice_client.post("/azure/callback/", {"state": state, "error": "access_denied",
                                                    "error_description": "AADSTS65004: User declined to consent."})
    page = alice_client.get(posted["Location"])

    assert page.status_code == 400
    assert stage_url(at_environment, "environment") in page.content.decode()
    assert discovery.current(at_environment) is None


def test_another_user_cannot_use_the_answer(alice_client, bob_client_for_alice, at_environment, clean_sandbox):
    response = _find(alice_client, at_environment)
    _, fields = clean_sandbox.browser_answer(response["Location"])

    assert bob_client_for_alice.post("/azure/callback/", fields).status_code == 400
    assert discovery.current(at_environment) is None


def test_a_refusal_from_the_discovery_service_is_explained(clean_sandbox):
    with pytest.raises(AzureError) as refused:
        discovery.fetch_instances(clean_sandbox.info["backchannel_base"], "not-a-token", use_sandbox=True)

    assert refused.value.code == "discovery_refused"
    assert explain(refused.value.code).fix_stage == "environment"


def test_an_account_without_environments_is_told_so(alice_client, at_environment, clean_sandbox):
    # What complete_discovery records when the service answers an empty list.
    flow = AuthFlow.objects.create(state="s" * 20, user=at_environment.owner, setup=at_environment,
                                   purpose=AuthFlow.Purpose.DISCOVERY, expires_at=timezone.now(),
                                   consumed_at=timezone.now(), discovered={"service": "sandbox", "environments": []})

    response = alice_client.get(f"/azure/callback/?state={flow.state}", follow=True)

    page = html.unescape(response.content.decode())
    assert "no Dynamics environments in that cloud" in page
    assert "No environments were found for this account." in page
