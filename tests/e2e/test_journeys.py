"""Browser journeys of issue 7 on the real stack: gunicorn, a Celery worker and the sandbox tenant.

Each journey asserts what the person sees and saves screenshots of its key pages under
test-artifacts/screenshots/<test name>/.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from setup_portal.teams.roles import set_role
from tests.conftest import PASSWORD
from tests.e2e import flows

WRONG_SECRET = "Zq8~wrongValueTypedFromMemory.NotTheOne42"


def test_a_first_admin_walks_every_stage_to_a_ready_instance(page, stack, sandbox):
    sandbox.reset()  # forget earlier consents, so the consent page appears
    info = sandbox.info
    flows.first_admin(page, stack)
    page.get_by_role("link", name="Set up a Dynamics CRM endpoint").click()
    expect(page.get_by_role("heading", name="Set up a Dynamics CRM endpoint")).to_be_visible()
    page.shots("wizard-start")
    flows.walk_wizard(page, info)

    flows.authorize_oauth(page, info)
    flows.expect_stage(page, 8, "Create instance")
    expect(page.get_by_text(f"Authorized as {info['username']}")).to_be_visible()
    # A slow WhoAmI (once) holds provisioning at step 2 long enough to watch the page tick over.
    sandbox.faults(endpoint="whoami", latency_ms=2500, times=1)
    flows.create_instance(page, "Contoso Sales")
    running = page.locator(".step-list li.step-running", has_text="Identify the signed-in user (WhoAmI)")
    expect(running).to_be_visible(timeout=flows.READY_TIMEOUT_MS)
    expect(page.locator(".step-list li.step-succeeded", has_text="Get an access token")).to_be_visible()
    expect(page.locator("#progress-live .badge-info")).to_have_text("Running")
    page.shots("progress-running")
    flows.wait_ready(page, "Contoso Sales")
    flows.show_token(page)
    page.shots("progress-ready", docs="progress")

    page.get_by_role("link", name="All instances").click()
    expect(page.get_by_role("heading", name="Instances", exact=True)).to_be_visible()
    row = page.locator("table.data tbody tr", has_text="Contoso Sales")
    expect(row).to_contain_text("Ready")
    expect(row).to_contain_text("Awaiting review")
    page.shots("dashboard")
    row.get_by_role("link", name="Contoso Sales").click()
    expect(page.get_by_role("heading", name=re.compile("^Contoso Sales"))).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(info["client_secret"])
    expect(page.locator("main")).to_contain_text("\u2022" * 8 + info["client_secret"][-4:])  # the masked hint
    page.shots("instance", docs="instance")


def test_a_sandbox_shortcut_fills_every_stage(page, stack, sandbox):
    flows.first_admin(page, stack)
    flows.sandbox_shortcut(page)
    for name in ("Account", "Environment", "Directory and application", "Keys and client ID", "Permissions"):
        expect(page.locator("ol.steps li.done", has_text=name)).to_have_count(1)
    expect(page.locator("main")).to_contain_text(sandbox.info["dynamics_url"])
    expect(page.locator("main")).not_to_contain_text(sandbox.info["client_secret"])
    page.shots("review-filled-from-sandbox")


def test_b_wrong_client_secret_is_explained_and_fixed_at_stage_4(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.start_setup(page)
    flows.do_account(page)
    flows.do_environment(page, info)
    flows.do_application(page)
    flows.do_keys(page, info["client_id"], WRONG_SECRET)

    # Stage 4 asks Azure AD at once: the refusal sits at the secret's field, before any sign-in.
    flows.expect_stage(page, 4, "Keys and client ID")
    expect(page.get_by_text("Azure AD refused this secret (AADSTS7000215)")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(WRONG_SECRET)
    page.shots("error-7000215")
    page.get_by_label("OAuth Client Secret in Azure AD").fill(info["client_secret"])
    page.shots("keys-corrected")
    flows.save(page)
    expect(page.get_by_text("Azure AD accepted this client ID and secret.")).to_be_visible()
    flows.finish_to_authorize(page)
    flows.authorize_oauth(page, info)
    flows.create_instance(page, "Fabrikam Service")
    flows.wait_ready(page, "Fabrikam Service")
    page.shots("ready")


def test_c_cancelled_consent_is_explained_and_retried(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.walk_wizard(page, info)
    flows.authorize_oauth(page, info, consent="Cancel")

    expect(page.get_by_role("heading", name="Consent was declined")).to_be_visible()
    expect(page.get_by_text("AADSTS65004", exact=True)).to_be_visible()
    expect(page.get_by_text("Authorize again and choose Accept")).to_be_visible()
    page.shots("error-65004")
    # Back to Authorize: the page's secondary button today, its primary "Try again" if 65004's fix stage changes.
    page.get_by_role("link", name=re.compile(r"^(Try again|Back to Authorize)$")).click()
    flows.expect_stage(page, 7, "Authorize")
    flows.authorize_oauth(page, info, consent="Accept")
    flows.create_instance(page, "Northwind Marketing")
    flows.wait_ready(page, "Northwind Marketing")
    page.shots("ready")


def test_d_server_to_server_reaches_ready(page, stack, sandbox):
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.walk_wizard(page, info, auth_type="s2s")
    expect(page.get_by_role("heading", name="Not authorized yet")).to_be_visible()
    page.get_by_role("button", name="Check the credentials and authorize").click()
    expect(page.get_by_text("Azure AD issued a token with these credentials.")).to_be_visible()
    flows.create_instance(page, "Tailspin Partners (s2s)")
    flows.wait_ready(page, "Tailspin Partners (s2s)")
    expect(page.get_by_text("Server-to-server (client credentials)")).to_be_visible()
    page.shots("ready")


def test_d_custom_authentication_reaches_ready(page, stack, sandbox):
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.walk_wizard(page, info, auth_type="custom")
    page.get_by_role("button", name="Check the credentials and authorize").click()
    expect(page.get_by_text("Azure AD issued a token with these credentials.")).to_be_visible()
    flows.create_instance(page, "Wingtip Field (custom)")
    flows.wait_ready(page, "Wingtip Field (custom)")
    expect(page.get_by_text("Custom (user name and password)")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(info["password"])
    page.shots("ready")


def test_e_half_finished_setup_is_resumed_from_the_drafts_list(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.start_setup(page)
    flows.do_account(page)
    flows.do_environment(page, info)
    flows.do_application(page, "oauth2")
    flows.expect_stage(page, 4, "Keys and client ID")
    page.get_by_role("link", name="Home").click()  # walks away at stage 4

    page.get_by_role("link", name="Set up endpoint").click()
    expect(page.get_by_role("heading", name="Your drafts")).to_be_visible()
    row = page.locator("table.data tbody tr", has_text=info["dynamics_url"])
    expect(row).to_contain_text("Step 4 of 8 · Keys and client ID")
    expect(row.locator(".badge", has_text="Sandbox")).to_be_visible()
    page.shots("drafts")
    row.get_by_role("link", name=re.compile("^Resume")).click()

    flows.expect_stage(page, 4, "Keys and client ID")
    for name in ("Account", "Environment", "Directory and application"):
        expect(page.locator("ol.steps li.done", has_text=name)).to_have_count(1)
    page.shots("resumed")
    page.get_by_role("button", name="Use the sandbox's credentials").click()
    expect(page.get_by_text("Filled in with the sandbox tenant's credentials.")).to_be_visible()
    flows.finish_to_authorize(page)
    flows.authorize_oauth(page, info)
    flows.create_instance(page, "Adventure Works Resumed")
    flows.wait_ready(page, "Adventure Works Resumed")

    page.goto("/setup/")  # no drafts left: "Set up endpoint" starts a new setup
    expect(page.get_by_role("heading", name="Set up a Dynamics CRM endpoint")).to_be_visible()


def test_h_a_wizard_stage_is_completed_with_the_keyboard_only(page, stack, sandbox):
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.start_setup(page)

    def tab_to(selector: str, limit: int = 40) -> None:
        """Press Tab until the element has focus, as a keyboard user would."""
        target = page.locator(selector)
        for _ in range(limit):
            page.keyboard.press("Tab")
            if target.evaluate("el => el === document.activeElement"):
                return
        raise AssertionError(f"{selector} cannot be reached with Tab")

    # Stage 1: three checkboxes ticked with Space, the form sent with Enter.
    tab_to("#id_dynamics_account")
    page.keyboard.press("Space")
    for checkbox in ("#id_consent_admin", "#id_register_app"):
        page.keyboard.press("Tab")
        expect(page.locator(checkbox)).to_be_focused()
        page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=flows.SAVE)).to_be_focused()
    page.shots("account-keyboard-focus")
    page.keyboard.press("Enter")

    # Stage 2: typed fields and a radio group, sent with Enter from a text field.
    flows.expect_stage(page, 2, "Environment")
    tab_to("#id_dynamics_url")
    page.keyboard.type(info["dynamics_url"])
    page.keyboard.press("Tab")
    expect(page.locator("#id_tenant")).to_be_focused()
    page.keyboard.type(info["tenant_id"])
    page.keyboard.press("Tab")
    expect(page.locator("#id_cloud_0")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#id_cloud_0")).to_be_checked()
    page.shots("environment-keyboard-focus")
    page.keyboard.press("Shift+Tab")  # back to a text field: Enter there submits the form
    expect(page.locator("#id_tenant")).to_be_focused()
    page.keyboard.press("Enter")
    flows.expect_stage(page, 3, "Directory and application")
    expect(page.get_by_text("Saved. Detected region:")).to_be_visible()
    expect(page.locator("ol.steps li.done")).to_have_count(2)


ADMIN_ACTIONS = ["test-connection", "disable", "enable", "rotate-secret", "delete"]


def test_f_team_lead_filters_opens_and_approves_but_cannot_administer(page, stack, sandbox, django_user_model):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    instance_id = flows.provision(page, info, "Contoso Sales EU", tags="sales, emea, e2e")
    for colleague in ("dana", "erik"):  # other admins, so the seeded instances have several owners
        set_role(django_user_model.objects.create_user(colleague, f"{colleague}@example.com", PASSWORD), "admin")
    stack.manage("seed_instances", "24")  # a realistic dashboard around it
    page.context.clear_cookies()  # the admin leaves; a team lead signs in on the same browser

    flows.sign_in_as(page, stack, "bob", "teamlead")
    expect(page.get_by_role("heading", name="Awaiting your review")).to_be_visible()
    page.get_by_role("link", name="Instances").click()
    expect(page.get_by_role("heading", name="Instances", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Set up an endpoint")).to_have_count(0)
    page.shots("dashboard-unfiltered", docs="dashboard")
    page.get_by_label("Review", exact=True).select_option(label="Awaiting review")
    page.get_by_label("Tag", exact=True).select_option("e2e")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"review=pending.*tag=e2e|tag=e2e.*review=pending"))
    expect(page.get_by_text("Showing 1–1 of 1 instance (filtered).")).to_be_visible()
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Contoso Sales EU")
    page.shots("dashboard-filtered")

    # The view a team lead shares: every secret that runs out within 30 days, soonest first.
    page.goto("/instances/?secret=soon&sort=secret")
    expect(page.get_by_label("Client secret", exact=True)).to_have_value("soon")
    expiring = page.locator("table.data tbody tr")
    expect(expiring.first).to_be_visible()
    for row in range(expiring.count()):
        badge = expiring.nth(row).locator("td.secret-cell .badge")
        expect(badge).to_have_class(re.compile(r"badge-(warn|bad)"))
    page.shots("dashboard-expiring-secrets")
    page.goto("/instances/?review=pending&tag=e2e")
    rows.first.get_by_role("link", name="Contoso Sales EU").click()
    expect(page.get_by_role("heading", name=re.compile("^Contoso Sales EU"))).to_be_visible()
    expect(page.get_by_text("Hidden from team leads")).to_be_visible()
    for label in ("Test connection", "Re-authenticate", "Rotate secret", "Disable", "Enable", "Delete…"):
        expect(page.get_by_role("button", name=label, exact=True)).to_have_count(0)
        expect(page.get_by_role("link", name=label, exact=True)).to_have_count(0)
    html = page.content()
    assert info["client_secret"] not in html
    assert "\u2022" * 8 + info["client_secret"][-4:] not in html  # not even the admins' masked hint
    page.get_by_label("Comment").fill("Checked the tenant and scope; fine for production.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("You approved Contoso Sales EU.")).to_be_visible()
    expect(page.locator("#review-state")).to_contain_text("Approved by bob")
    page.shots("instance-approved")

    # Every admin action refuses the team lead, whether the page offers it or not.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    targets = [f"/instances/{instance_id}/{action}/" for action in ADMIN_ACTIONS]
    targets += [f"/azure/reauthorize/{instance_id}/", f"/instances/{instance_id}/progress/retry/"]
    for url in targets:
        response = page.request.post(url, form={"confirmed": "yes", "confirm_name": "Contoso Sales EU"},
                                     headers={"X-CSRFToken": csrf, "Referer": stack.base_url + "/"})
        assert response.status == 403, (url, response.status)
        assert "Form expired" not in response.text(), url  # refused for the role, not by the CSRF check
    for action in ("rotate-secret", "delete", "disable"):
        assert page.request.get(f"/instances/{instance_id}/{action}/").status == 403
    export = page.request.get("/instances/export.csv")
    assert export.ok and "Contoso Sales EU" in export.text() and info["client_secret"] not in export.text()
    page.goto(f"/instances/{instance_id}/")
    expect(page.locator("#review-state")).to_contain_text("Approved by bob")
    expect(page.get_by_role("heading", name=re.compile("^Contoso Sales EU .*Ready"))).to_be_visible()


def test_g_admin_disables_enables_reauthenticates_rotates_and_deletes(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations ("Disable …?") are answered yes
    flows.first_admin(page, stack)
    instance_id = flows.provision(page, info, "Litware Operations")
    page.get_by_role("link", name="Go to the instance").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Litware Operations")
    expect(heading.locator(".badge")).to_have_text("Ready")
    page.shots("instance")

    page.get_by_role("button", name="Disable", exact=True).click()
    expect(page.get_by_text("Litware Operations is disabled.")).to_be_visible()
    expect(heading.locator(".badge")).to_have_text("Disabled")
    expect(page.get_by_role("button", name="Enable", exact=True)).to_be_visible()
    page.shots("disabled")

    page.get_by_role("button", name="Enable", exact=True).click()
    expect(page.get_by_text("Litware Operations is enabled")).to_be_visible()
    expect(heading.locator(".badge")).to_have_text("Ready")

    page.get_by_role("button", name="Re-authenticate").click()
    page.wait_for_url(re.compile(re.escape(info["browser_base"]) + r"/.*"))
    flows.sandbox_sign_in(page, info, consent=None)  # consent was given when the instance was set up
    page.wait_for_url(f"**/instances/{instance_id}/progress/")  # the same instance, not a new one
    expect(page.get_by_text("Re-authentication of")).to_be_visible()
    flows.wait_ready(page, "Litware Operations")
    page.shots("reauthenticated")
    page.get_by_role("link", name="Go to the instance").click()
    expect(page.locator("details.job")).to_have_count(2)
    expect(page.locator("details.job").first).to_contain_text("Succeeded")

    # Rotate the client secret: a wrong value is refused and the old one stays; a new one is verified, then used.
    page.get_by_role("link", name="Rotate secret").click()
    page.get_by_label("New client secret value").fill("not-the-new-secret-value-0000")
    page.get_by_label("Expires on").fill("2027-06-30")
    page.get_by_role("button", name="Verify and switch").click()
    expect(page.get_by_text("Azure AD refused this secret, so the current one stays in place.")).to_be_visible()
    page.shots("rotate-refused")
    new_secret = sandbox.add_secret(days=365)
    page.get_by_label("New client secret value").fill(new_secret["value"])
    page.get_by_label("Expires on").fill(new_secret["expires"])
    page.get_by_role("button", name="Verify and switch").click()
    expect(page.get_by_text("Azure AD accepted the new secret; the instance uses it from now on.")).to_be_visible()
    assert new_secret["value"] not in page.content()
    expect(page.get_by_text("\u2022" * 8 + new_secret["value"][-4:], exact=True)).to_be_visible()
    page.shots("rotated")

    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete Litware Operations?")).to_be_visible()
    page.get_by_label("Type the instance name to confirm").fill("Litware Operations")
    page.shots("delete")
    page.get_by_role("button", name="Delete instance").click()
    expect(page.get_by_role("heading", name="Instances", exact=True)).to_be_visible()
    expect(page.get_by_text("Litware Operations is deleted")).to_be_visible()
    expect(page.locator("table.data tbody tr", has_text="Litware Operations")).to_have_count(0)
    page.shots("dashboard-after-delete")
    page.goto(f"/instances/{instance_id}/")
    expect(page.get_by_text("This instance is deleted")).to_be_visible()
