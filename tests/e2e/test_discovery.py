"""Browser journey: at the Environment stage, "Find my environments" signs in at the sandbox tenant,
lists its environments (the disabled one shown, not selectable), and the picked one is saved."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e import flows


def test_it_picks_the_environment_from_the_list(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.start_setup(page)
    flows.do_account(page)
    flows.expect_stage(page, 2, "Environment")
    expect(page.get_by_role("heading", name="Find my environments", level=2)).to_be_visible()
    page.get_by_label("Where your environments are").select_option(
        label="Sandbox tenant (local, for trying the portal)")
    page.shots("environment-find")

    page.get_by_role("button", name="Find my environments").click()
    page.wait_for_url(re.compile(re.escape(info["browser_base"]) + r"/.*"))
    # Microsoft's public client is consented in every tenant; the sandbox's stand-in is too: no consent page.
    flows.sandbox_sign_in(page, info, consent=None)

    flows.expect_stage(page, 2, "Environment")
    expect(page.get_by_text(f"Signed in as {info['username']}: found 3 environments.")).to_be_visible()
    table = page.locator("table.discovered-environments")
    expect(table).to_contain_text("Contoso Europe")
    expect(table).to_contain_text("EUR")
    expect(table.locator("tr", has_text="Contoso Europe")).to_contain_text("Production")  # OrganizationType 0
    expect(table.locator("tr", has_text="Contoso").first).to_contain_text("Sandbox")  # 5: the rehearsal
    expect(page.get_by_label("Contoso Archive (disabled)")).to_be_disabled()
    expect(table.locator("tr", has_text="Contoso Archive")).to_contain_text("Disabled")
    expect(page.get_by_label("Contoso Europe")).to_be_enabled()
    expect(page.get_by_label("Directory (tenant) ID or domain")).to_have_value(info["tenant_id"])
    expect(page.get_by_label("Where your environments are")).to_have_value("sandbox")  # search again, same place
    page.shots("environment-list", docs="wizard-environment-discovery")

    page.get_by_label("Contoso Europe").check()
    flows.save(page)
    expect(page.get_by_text("Saved. Detected region: Sandbox")).to_be_visible()
    flows.expect_stage(page, 3, "Directory and application")

    page.get_by_role("link", name="← Back").click()
    flows.expect_stage(page, 2, "Environment")
    expect(page.get_by_role("status").filter(has_text="Saved environment")).to_contain_text(
        f"{info['backchannel_base']}/dataverse/contoso-eu")
    # Picked: the list is gone; typing stays possible.
    expect(page.locator("table.discovered-environments")).to_have_count(0)
    expect(page.get_by_label("Microsoft Dynamics CRM URL")).to_have_value(
        f"{info['backchannel_base']}/dataverse/contoso-eu")
    page.shots("environment-saved")
