"""Stage 5's admin-consent link, answered by the sandbox, comes back through the callback."""

from setup_portal.audit.models import AuditEvent
from setup_portal.wizard.clouds import admin_consent_url
from tests.azure.conftest import callback_path


def consent_link(sandbox, setup) -> str:
    info = sandbox.info
    return admin_consent_url(base=info["browser_base"], tenant=info["tenant_id"], client_id=info["client_id"],
                             dynamics_url=info["dynamics_url"], redirect_uri="http://127.0.0.1:8000/azure/callback/",
                             state=f"adminconsent-{setup.pk}")


def test_granted_admin_consent_returns_to_the_permissions_stage(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    location = sbx.browser_sign_in(consent_link(sbx, setup))
    assert "admin_consent=True" in location
    response = alice_client.get(callback_path(location), follow=True)
    assert response.redirect_chain[0][0] == f"/setup/{setup.pk}/permissions/"
    assert b"Admin consent granted for the whole directory" in response.content
    assert AuditEvent.objects.filter(verb="setup.admin_consent_granted", target_id=str(setup.pk)).exists()


def test_declined_admin_consent_is_explained(alice_client, alice, sbx, make_setup):
    setup = make_setup(alice)
    response = alice_client.get(callback_path(sbx.browser_sign_in(consent_link(sbx, setup), consent="cancel")))
    assert response.status_code == 400
    assert b"AADSTS65004" in response.content or b"Consent was declined" in response.content


def test_it_refuses_an_admin_consent_answer_for_another_users_setup(client, bob, alice, sbx, make_setup):
    setup = make_setup(alice)
    client.force_login(bob)
    response = client.get(f"/azure/callback/?admin_consent=True&tenant=x&state=adminconsent-{setup.pk}")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(verb="setup.admin_consent_granted").exists()


def test_anonymous_is_asked_to_sign_in_first(client, alice, sbx, make_setup):
    setup = make_setup(alice)
    response = client.get(f"/azure/callback/?admin_consent=True&tenant=x&state=adminconsent-{setup.pk}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
