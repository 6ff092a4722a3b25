"""Stage 5's admin consent: requested through the portal with a random, single-use state of the
signed-in admin, answered by the sandbox, and recorded only when it matches that request."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.models import AuthFlow
from tests.signin.conftest import callback_path
from tests.wizard.helpers import new_setup, sandbox_values, walk

pytestmark = pytest.mark.django_db


def request_consent(client, setup) -> str:
    """Press "Grant admin consent in Azure AD"; returns the sandbox's admin-consent URL."""
    response = client.post(f"/azure/adminconsent/{setup.pk}/")
    assert response.status_code == 302, response.content[:1000]
    return response["Location"]


def granted(setup) -> int:
    return AuditEvent.objects.filter(verb="setup.admin_consent_granted", target_id=str(setup.pk)).count()


def test_it_works(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    url = request_consent(alice_client, setup)
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{sbx.info['browser_base']}/{setup.tenant}/v2.0/adminconsent?")
    assert len(query["state"]) >= 40 and str(setup.pk) not in query["state"]
    assert AuthFlow.objects.get(state=query["state"]).user == alice
    location = sbx.browser_sign_in(url)
    assert "admin_consent=True" in location
    response = alice_client.get(callback_path(location), follow=True)
    assert response.redirect_chain[0][0] == f"/setup/{setup.pk}/permissions/"
    assert b"Admin consent granted for the whole directory" in response.content
    assert granted(setup) == 1


def test_a_forged_answer_with_a_guessable_state_records_nothing(alice_client, alice, sbx, make_setup):
    """The old state was adminconsent-<setup id>: a link anyone could write."""
    setup = make_setup(alice)
    response = alice_client.get(f"/azure/callback/?admin_consent=True&tenant=x&state=adminconsent-{setup.pk}")
    assert response.status_code == 400
    assert b"not recognised" in response.content
    assert granted(setup) == 0


def test_an_answer_is_used_once(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(request_consent(alice_client, setup)))
    alice_client.get(path)
    response = alice_client.get(path, follow=True)  # a reload
    assert response.redirect_chain[0][0] == f"/setup/{setup.pk}/permissions/"
    assert b"already recorded" in response.content
    assert granted(setup) == 1


def test_a_sign_in_state_is_no_consent_state(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    response = alice_client.post(f"/azure/authorize/{setup.pk}/")
    state = dict(parse_qsl(urlsplit(response["Location"]).query))["state"]
    response = alice_client.get(f"/azure/callback/?admin_consent=True&tenant=x&state={state}")
    assert response.status_code == 400
    assert granted(setup) == 0


def test_declined_admin_consent_is_explained_also_on_reload(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(request_consent(alice_client, setup), consent="cancel"))
    for _ in range(2):
        response = alice_client.get(path)
        assert response.status_code == 400
        assert b"AADSTS65004" in response.content and b"Consent was declined" in response.content
    assert granted(setup) == 0


def test_it_refuses_an_expired_request(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(request_consent(alice_client, setup)))
    AuthFlow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = alice_client.get(path)
    assert response.status_code == 400 and b"took too long" in response.content
    assert granted(setup) == 0


def test_it_refuses_an_answer_for_another_users_request(bob_client, alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(request_consent(alice_client, setup)))
    response = bob_client.get(path)
    assert response.status_code == 400 and b"started by someone else" in response.content
    assert granted(setup) == 0
    assert alice_client.get(path).status_code == 302  # still alice's to use
    assert granted(setup) == 1


def test_anonymous_is_asked_to_sign_in_first(client, alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    path = callback_path(sbx.browser_sign_in(request_consent(alice_client, setup)))
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert granted(setup) == 0


def test_an_answer_to_the_copied_link_records_nothing(client, alice, sbx, make_setup):
    """The link stage 5 offers to send to another administrator carries no state."""
    setup = make_setup(alice)
    response = client.get("/azure/callback/?admin_consent=True&tenant=x")
    assert response.status_code == 200
    assert b"the portal recorded nothing" in response.content
    assert granted(setup) == 0


@pytest.mark.parametrize("client_fixture, status", [("bob_client", 403), ("charlie_client", 403), ("client", 302)])
def test_only_admins_may_request_consent(request, alice, sbx, make_setup, client_fixture, status):
    setup = make_setup(alice)
    response = request.getfixturevalue(client_fixture).post(f"/azure/adminconsent/{setup.pk}/")
    assert response.status_code == status
    assert not AuthFlow.objects.exists()


def test_only_the_owner_may_request_consent(alice, sbx, make_setup, dave_client):
    setup = make_setup(alice)
    assert dave_client.post(f"/azure/adminconsent/{setup.pk}/").status_code == 403
    assert dave_client.get(f"/azure/adminconsent/{setup.pk}/").status_code == 405


def test_the_permissions_stage_requests_consent_in_the_same_tab(alice_client, sbx):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions", sandbox_values())
    page = alice_client.get(f"/setup/{setup.pk}/permissions/").content.decode()
    assert f'action="/azure/adminconsent/{setup.pk}/"' in page
    assert 'target="_blank"' not in page
    assert "adminconsent-" not in page and "state=" not in page  # the copied link carries no state
