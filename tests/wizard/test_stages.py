"""Each stage through HTTP as alice (admin): valid input moves on, bad input gets a 400 and a plain message."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.models import Authorization
from setup_portal.instances.models import Instance
from setup_portal.wizard.models import Setup, StageRecord

from .helpers import CLIENT_ID, SECRET, TENANT, VALID, new_setup, post_stage, stage_url, walk


def body(response) -> str:
    return html.unescape(response.content.decode())


def test_start_page_offers_start_and_sandbox(alice_client, settings):
    settings.SANDBOX_ENABLED = True
    page = body(alice_client.get("/setup/new/"))
    assert ">Start</button>" in page
    assert "Use the sandbox tenant" in page
    settings.SANDBOX_ENABLED = False
    assert "Use the sandbox tenant" not in body(alice_client.get("/setup/new/"))


def test_it_creates_a_draft_and_lands_on_step_one(alice_client, alice):
    setup = new_setup(alice_client)
    assert setup.owner == alice and setup.status == Setup.Status.DRAFT
    page = body(alice_client.get(stage_url(setup, "account")))
    assert "Step 1 of 8" in page
    for name in ("Account", "Environment", "Directory and application", "Keys and client ID", "Permissions",
                 "Review and save", "Authorize", "Create instance"):
        assert name in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert AuditEvent.objects.filter(verb="setup.created", target_id=str(setup.pk)).exists()


def test_account_stage_needs_every_tick(alice_client):
    setup = new_setup(alice_client)
    response = post_stage(alice_client, setup, "account", {"dynamics_account": "on"})
    assert response.status_code == 400
    assert "Tick this once you know who can grant admin consent" in body(response)
    response = post_stage(alice_client, setup, "account")
    assert response.status_code == 302 and response["Location"] == stage_url(setup, "environment")


def test_environment_stage_normalises_and_detects_the_region(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "environment")
    response = post_stage(alice_client, setup, "environment")
    assert response.status_code == 302
    setup.refresh_from_db()
    assert setup.dynamics_url == "https://contoso.crm4.dynamics.com"
    assert setup.region == "Europe, Middle East and Africa"
    assert setup.tenant == TENANT and not setup.use_sandbox
    page = body(alice_client.get(response["Location"]))
    assert "Detected region: Europe, Middle East and Africa" in page


@pytest.mark.parametrize("data, field_message", [
    ({"dynamics_url": "http://contoso.crm.dynamics.com"}, "not http://"),
    ({"dynamics_url": "https://10.1.2.3"}, "IP addresses are not accepted"),
    ({"dynamics_url": "https://contoso.crm.dynamics.com:8080"}, "Remove the port"),
    ({"dynamics_url": "https://me:pw@contoso.crm.dynamics.com"}, "Remove the user name"),
    ({"dynamics_url": "https://cоntoso.crm.dynamics.com"}, "only look like Latin letters"),
    ({"dynamics_url": "https://example.com"}, "This is not a Dynamics CRM address"),
    ({"dynamics_url": "<script>alert(1)</script>"}, "spaces, quotes or brackets"),
    ({"dynamics_url": ""}, "Enter your Dynamics CRM URL"),
    ({"dynamics_url": "x" * 3000}, "too long"),
    ({"tenant": "common"}, "is not one directory"),
    ({"tenant": "not a tenant"}, "Enter a tenant ID"),
    ({"cloud": "mars"}, "Pick one of the listed clouds"),
    ({"cloud": "usgov"}, "This Dynamics URL is in the “Public (worldwide)” cloud"),
    ({"dynamics_url": "https://contoso.crm.microsoftdynamics.us"}, "US Government (GCC High)” cloud"),
])
def test_environment_stage_refuses_bad_input(alice_client, data, field_message):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "environment")
    response = post_stage(alice_client, setup, "environment", {**VALID["environment"], **data})
    assert response.status_code == 400
    assert field_message in body(response)
    assert "<script>alert" not in response.content.decode()  # echoed input is escaped
    setup.refresh_from_db()
    assert setup.dynamics_url == "" and setup.current_stage == "environment"
    failed = StageRecord.objects.get(setup=setup, stage="environment", valid=False)
    assert failed.messages and failed.user.username == "alice"


def test_sandbox_url_is_accepted_only_when_the_sandbox_is_on(alice_client, settings):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "environment")
    sandbox_url = f"https://127.0.0.1:{settings.SANDBOX_HTTPS_PORT}/dataverse/contoso"
    data = {**VALID["environment"], "dynamics_url": sandbox_url}
    settings.SANDBOX_ENABLED = False
    assert post_stage(alice_client, setup, "environment", data).status_code == 400
    settings.SANDBOX_ENABLED = True
    assert post_stage(alice_client, setup, "environment", data).status_code == 302
    setup.refresh_from_db()
    assert setup.use_sandbox and setup.region == "Sandbox"


def test_application_stage(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "application")
    page = body(alice_client.get(stage_url(setup, "application")))
    assert '<code id="redirect-uri">http://127.0.0.1:8000/azure/callback/</code>' in page
    assert "data-copy=\"#redirect-uri\"" in page
    assert "App registrations" in page and "New registration" in page
    response = post_stage(alice_client, setup, "application", {"auth_type": "oauth2", "account_types": "single"})
    assert response.status_code == 400 and "Tick this once the app is registered" in body(response)
    response = post_stage(alice_client, setup, "application", {"auth_type": "nope", "account_types": "single"})
    assert response.status_code == 400 and "Pick one of the listed authentication types" in body(response)
    # Custom authentication needs no app of its own.
    assert post_stage(alice_client, setup, "application",
                      {"auth_type": "custom", "account_types": "single"}).status_code == 302
    setup.refresh_from_db()
    assert setup.auth_type == "custom"


def test_redirect_uri_comes_from_the_portal_base_url(alice_client, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    setup = new_setup(alice_client)
    walk(alice_client, setup, "application")
    page = body(alice_client.get(stage_url(setup, "application")))
    assert '<code id="redirect-uri">https://portal.example.org/azure/callback/</code>' in page


def test_keys_stage_saves_and_masks_the_secret(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    assert post_stage(alice_client, setup, "keys").status_code == 302
    setup.refresh_from_db()
    assert setup.client_id == CLIENT_ID and setup.client_secret == SECRET
    assert setup.secret_hint == "\u2022" * 8 + SECRET[-4:]
    page = body(alice_client.get(stage_url(setup, "keys")))
    assert SECRET not in page
    assert f"A secret ending …{SECRET[-4:]} is saved; leave this empty to keep it." in page
    # Leaving the secret empty keeps it.
    response = post_stage(alice_client, setup, "keys", {"client_id": CLIENT_ID, "client_secret": "",
                                                        "secret_expires_on": "2099-01-01"})
    setup.refresh_from_db()
    assert response.status_code == 302 and setup.client_secret == SECRET


@pytest.mark.parametrize("data, message", [
    ({"client_secret": "44c5a8dc-8a04-4f78-929b-c4ebf0d2b920"}, "looks like the Secret ID"),
    ({"client_secret": "short"}, "too short"),
    ({"client_secret": "has a space in it x"}, "no spaces"),
    ({"client_secret": ""}, "Paste the secret's Value"),
    ({"client_id": "not-a-guid"}, "The client ID is a GUID"),
    ({"client_id": ""}, "Enter the Application (client) ID"),
    ({"client_id": "00000007-0000-0000-c000-000000000000"}, "Microsoft's ID for the Dynamics CRM API"),
    ({"client_id": TENANT}, "That is the directory (tenant) ID"),
    ({"secret_expires_on": "2001-01-01"}, "already expired"),
    ({"secret_expires_on": "31/12/2030"}, "YYYY-MM-DD"),
    ({"secret_expires_on": ""}, "Enter the date the secret expires"),
])
def test_keys_stage_refuses_bad_input(alice_client, data, message):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    payload = {"client_id": CLIENT_ID, "client_secret": SECRET, "secret_expires_on": "2030-01-01", **data}
    response = post_stage(alice_client, setup, "keys", payload)
    assert response.status_code == 400
    assert message in body(response)
    assert SECRET not in response.content.decode()  # a refused form never echoes the secret back
    failed = StageRecord.objects.get(setup=setup, stage="keys", valid=False)
    assert "client_secret" not in failed.values and SECRET not in str(failed.values)


@pytest.mark.parametrize("days, warning", [
    (10, "within 30 days"),
    (365 * 2 + 60, "more than 24 months away"),
])
def test_keys_stage_warns_about_the_expiry(alice_client, days, warning):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    expires = (timezone.localdate() + dt.timedelta(days=days)).isoformat()
    response = post_stage(alice_client, setup, "keys", {"client_id": CLIENT_ID, "client_secret": SECRET,
                                                        "secret_expires_on": expires})
    assert response.status_code == 302
    assert warning in body(alice_client.get(response["Location"]))
    record = StageRecord.objects.get(setup=setup, stage="keys", valid=True)
    assert warning in record.messages[0]
    keys = {"client_id": CLIENT_ID, "client_secret": "", "secret_expires_on": expires}
    walk(alice_client, setup, "review", {"keys": keys})
    assert "Worth a look" in body(alice_client.get(stage_url(setup, "review")))
    # Fixing the date clears the warning from the review (the history keeps it).
    walk(alice_client, setup, "review")
    assert "Worth a look" not in body(alice_client.get(stage_url(setup, "review")))


def test_custom_authentication_asks_for_user_and_password(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys", {"application": {"auth_type": "custom", "account_types": "single"}})
    page = body(alice_client.get(stage_url(setup, "keys")))
    assert "Sign-in account" in page and 'name="username"' in page and 'name="client_secret"' not in page
    assert "MFA" in page
    response = post_stage(alice_client, setup, "keys", {"username": "not an email", "password": ""})
    assert response.status_code == 400
    assert "someone@contoso.onmicrosoft.com" in body(response)
    response = post_stage(alice_client, setup, "keys", {"username": "Sync@Contoso.com", "password": "Pa55word!x"})
    assert response.status_code == 302
    setup.refresh_from_db()
    assert setup.username == "sync@contoso.com" and setup.password == "Pa55word!x" and setup.password_hint
    page = body(alice_client.get(stage_url(setup, "keys")))
    assert "Pa55word!x" not in page and "A password is saved" in page


def test_permissions_stage_builds_the_admin_consent_link(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions")
    page = body(alice_client.get(stage_url(setup, "permissions")))
    assert (f"https://login.microsoftonline.com/{TENANT}/v2.0/adminconsent?client_id={CLIENT_ID}"
            "&scope=https%3A%2F%2Fcontoso.crm4.dynamics.com%2Fuser_impersonation") in page
    assert "user_impersonation" in page and "Grant admin consent" in page
    response = post_stage(alice_client, setup, "permissions", {})
    assert response.status_code == 400 and "Tick this once the permission is in place" in body(response)
    assert post_stage(alice_client, setup, "permissions").status_code == 302


def test_permissions_stage_for_server_to_server_asks_for_the_application_user(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions",
         {"application": {"auth_type": "s2s", "account_types": "single", "app_registered": "on"}})
    page = body(alice_client.get(stage_url(setup, "permissions")))
    assert "application user" in page and "security role" in page and "adminconsent" not in page


def test_usgov_consent_link_uses_the_us_government_authority(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions", {"environment": {
        "dynamics_url": "https://contoso.crm.microsoftdynamics.us", "tenant": "contoso.us", "cloud": "usgov"}})
    page = body(alice_client.get(stage_url(setup, "permissions")))
    assert "https://login.microsoftonline.us/contoso.us/v2.0/adminconsent?" in page


def test_review_shows_everything_masked_and_records_who_did_what(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "review")
    page = body(alice_client.get(stage_url(setup, "review")))
    assert "https://contoso.crm4.dynamics.com" in page and CLIENT_ID in page
    assert "\u2022" * 8 + SECRET[-4:] in page and SECRET not in page
    assert "Stage history" in page
    response = post_stage(alice_client, setup, "review")
    assert response.status_code == 302 and response["Location"] == stage_url(setup, "authorize")
    records = StageRecord.objects.filter(setup=setup, valid=True).order_by("completed_at", "id")
    assert [r.stage for r in records] == ["account", "environment", "application", "keys", "permissions", "review"]
    for r in records:
        assert r.user.username == "alice" and r.started_at and r.completed_at >= r.started_at
        assert r.duration_ms is not None and r.invalidated_at is None


def test_it_cannot_skip_ahead(alice_client):
    setup = new_setup(alice_client)
    response = alice_client.get(stage_url(setup, "keys"))
    assert response.status_code == 302 and response["Location"] == stage_url(setup, "account")
    assert post_stage(alice_client, setup, "keys").status_code == 302
    setup.refresh_from_db()
    assert setup.client_secret == ""
    assert alice_client.get(f"/setup/{setup.pk}/nonsense/").status_code == 404


def test_resume_goes_exactly_where_the_admin_left(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    response = alice_client.get(f"/setup/{setup.pk}/")
    assert response.status_code == 302 and response["Location"] == stage_url(setup, "keys")
    drafts = body(alice_client.get("/setup/"))
    assert "Step 4 of 8 · Keys and client ID" in drafts and "Resume" in drafts and "Discard" in drafts


def _authorize(setup: Setup, username: str = "admin@contoso.onmicrosoft.com") -> None:
    """What the azure app does on a successful callback: an Authorization row and authorized_at."""
    Authorization.objects.create(setup=setup, claims={"preferred_username": username})
    Setup.objects.filter(pk=setup.pk).update(authorized_at=timezone.now())


def test_authorize_stage_hands_over_to_the_azure_app(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    page = body(alice_client.get(stage_url(setup, "authorize")))
    assert f'action="/azure/authorize/{setup.pk}/"' in page
    assert "Sign in with Microsoft and authorize" in page
    assert alice_client.get(stage_url(setup, "instance")).status_code == 302  # not before authorizing
    response = alice_client.post(stage_url(setup, "authorize"))
    assert response.status_code == 302 and response["Location"] == stage_url(setup, "authorize")
    _authorize(setup)
    page = body(alice_client.get(stage_url(setup, "authorize")))
    assert "Authorized as <b>admin@contoso.onmicrosoft.com</b>" in page
    response = alice_client.post(stage_url(setup, "authorize"))
    assert response.status_code == 302 and response["Location"] == stage_url(setup, "instance")
    assert StageRecord.objects.filter(setup=setup, stage="authorize", valid=True).exists()


def test_editing_an_earlier_stage_invalidates_later_ones(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    _authorize(setup)
    # Same values again: nothing is voided.
    assert post_stage(alice_client, setup, "environment").status_code == 302
    setup.refresh_from_db()
    assert setup.authorized_at is not None
    assert not StageRecord.objects.filter(setup=setup, invalidated_at__isnull=False).exists()
    # Another tenant: the keys, the permission, the review and the authorization must be redone.
    data = {**VALID["environment"], "tenant": "fabrikam.onmicrosoft.com"}
    assert post_stage(alice_client, setup, "environment", data).status_code == 302
    setup.refresh_from_db()
    assert setup.authorized_at is None and setup.current_stage == "application"
    voided = set(StageRecord.objects.filter(setup=setup, invalidated_at__isnull=False).values_list("stage", flat=True))
    assert voided == {"keys", "permissions", "review"}
    page = body(alice_client.get(stage_url(setup, "application")))
    assert '<li class="invalid"><a href="' + stage_url(setup, "keys") in page
    assert alice_client.get(stage_url(setup, "review"))["Location"] == stage_url(setup, "keys")
    walk(alice_client, setup, "authorize")
    assert alice_client.get(stage_url(setup, "authorize")).status_code == 200


def test_changing_the_client_id_voids_authorization(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    _authorize(setup)
    other = "9a9a9a9a-0000-4000-8000-000000000001"
    # A new app needs its own secret: the stored one belongs to the old app.
    response = post_stage(alice_client, setup, "keys", {"client_id": other, "client_secret": "",
                                                        "secret_expires_on": "2030-01-01"})
    assert response.status_code == 400 and "Paste the secret's Value" in body(response)
    response = post_stage(alice_client, setup, "keys", {"client_id": other, "client_secret": SECRET + "2",
                                                        "secret_expires_on": "2030-01-01"})
    assert response.status_code == 302
    setup.refresh_from_db()
    assert setup.authorized_at is None
    voided = set(StageRecord.objects.filter(setup=setup, invalidated_at__isnull=False).values_list("stage", flat=True))
    assert voided == {"permissions", "review"}
    event = AuditEvent.objects.filter(verb="setup.stage_completed", target_id=str(setup.pk)).first()
    assert sorted(event.data["changed"]) == ["client_id", "client_secret", "secret_expires_on"]
    assert SECRET not in str(event.data)


def test_instance_stage_creates_the_instance(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    _authorize(setup)
    page = body(alice_client.get(stage_url(setup, "instance")))
    assert 'name="filter_nulls" id="id_filter_nulls" checked' in page
    for bad, message in [({"name": ""}, "Give the instance a name"),
                         ({"polling_interval_minutes": "0"}, "at most once a minute"),
                         ({"polling_interval_minutes": "5000"}, "at least once a day"),
                         ({"polling_resources": []}, "Pick at least one resource"),
                         ({"polling_resources": ["widgets"]}, "Pick from the listed resources"),
                         ({"tags": "<b>"}, "is not a usable tag")]:
        data = {"name": "Contoso sales", "tags": "Sales, production ,sales", "polling_enabled": "on",
                "polling_resources": ["accounts", "leads"], "polling_interval_minutes": "30", "filter_nulls": "on",
                **bad}
        response = alice_client.post(stage_url(setup, "instance"), data)
        assert response.status_code == 400 and message in body(response), bad
    data = {"name": " Contoso  sales ", "tags": "Sales, production ,sales, big deal", "polling_enabled": "on",
            "polling_resources": ["accounts", "leads"], "polling_interval_minutes": "30", "filter_nulls": "on"}
    response = alice_client.post(stage_url(setup, "instance"), data)
    instance = Instance.objects.get(setup=setup)
    assert response.status_code == 302 and response["Location"] == f"/instances/{instance.pk}/progress/"
    assert instance.name == "Contoso sales" and instance.tag_list == ["sales", "production", "big-deal"]
    assert instance.polling_resources == ["accounts", "leads"] and instance.polling_interval_minutes == 30
    setup.refresh_from_db()
    assert setup.status == Setup.Status.COMPLETED
    assert StageRecord.objects.filter(setup=setup, stage="instance", valid=True).exists()
    # A second setup cannot take the same name.
    second = new_setup(alice_client)
    walk(alice_client, second, "authorize")
    _authorize(second)
    response = alice_client.post(stage_url(second, "instance"), {**data, "name": "CONTOSO SALES"})
    assert response.status_code == 400
    assert "Your team already has an instance called “CONTOSO SALES”" in body(response)


def test_discard(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions")
    response = alice_client.post(f"/setup/{setup.pk}/discard/")
    assert response.status_code == 302 and response["Location"] == "/setup/"
    setup.refresh_from_db()
    assert setup.status == Setup.Status.DISCARDED and setup.client_secret == ""
    assert alice_client.get(f"/setup/{setup.pk}/").status_code == 404
    assert alice_client.get(f"/setup/{setup.pk}/discard/").status_code == 405


def test_use_the_sandbox_fills_every_stage(alice_client, settings):
    settings.SANDBOX_ENABLED = True
    from setup_portal.sandbox.info import sandbox_info

    info = sandbox_info()
    response = alice_client.post("/setup/sandbox/")
    setup = Setup.objects.get()
    assert response.status_code == 302 and response["Location"] == stage_url(setup, "review")
    assert setup.use_sandbox and setup.client_secret == info["client_secret"] and setup.region == "Sandbox"
    assert setup.dynamics_url == info["dynamics_url"] and setup.tenant == info["tenant_id"]
    records = StageRecord.objects.filter(setup=setup)
    assert [r.stage for r in records] == ["account", "environment", "application", "keys", "permissions"]
    assert all(r.values["source"] == "sandbox" and r.user.username == "alice" for r in records)
    page = body(alice_client.get(response["Location"]))
    assert "from sandbox" in page and info["client_secret"] not in page
    # The consent link goes to the sandbox's sign-in pages, not Microsoft's.
    page = body(alice_client.get(stage_url(setup, "permissions")))
    assert f"{info['browser_base']}/{info['tenant_id']}/v2.0/adminconsent?client_id={info['client_id']}" in page
    assert post_stage(alice_client, setup, "review").status_code == 302


def test_sandbox_credentials_follow_the_auth_type(alice_client, settings):
    settings.SANDBOX_ENABLED = True
    from setup_portal.sandbox.info import sandbox_info

    info = sandbox_info()
    alice_client.post("/setup/sandbox/")
    setup = Setup.objects.get()
    post_stage(alice_client, setup, "application", {"auth_type": "custom", "account_types": "single"})
    response = alice_client.post(stage_url(setup, "keys"), {"fill": "sandbox"})
    assert response.status_code == 302
    setup.refresh_from_db()
    assert setup.username == info["username"] and setup.password == info["password"]
    assert setup.client_id == info["public_client_id"]


def test_use_the_sandbox_is_refused_when_disabled(alice_client, settings):
    settings.SANDBOX_ENABLED = False
    assert alice_client.post("/setup/sandbox/").status_code == 404
    assert not Setup.objects.exists()


def test_resume_restores_what_was_typed_in_a_refused_attempt_but_never_the_secret(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys")
    response = post_stage(alice_client, setup, "keys", {"client_id": CLIENT_ID,
                                                        "client_secret": "44c5a8dc-8a04-4f78-929b-c4ebf0d2b920",
                                                        "secret_expires_on": "2030-01-01"})
    assert response.status_code == 400
    page = body(alice_client.get(f"/setup/{setup.pk}/", follow=True))
    assert "Picked up where you left off" in page
    assert f'value="{CLIENT_ID}"' in page and 'value="2030-01-01"' in page
    assert "44c5a8dc-8a04-4f78-929b-c4ebf0d2b920" not in page
