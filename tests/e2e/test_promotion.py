"""Browser journey: a Ready instance rehearsed against the sandbox's Contoso environment is promoted to
Contoso Europe. The wizard opens at the environment stage with the settings carried over, asks the rest
again (environment found by discovery, app, keys, permissions, sign-in) and the new instance reaches
Ready linked to its rehearsal."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from setup_portal.audit.models import AuditEvent
from setup_portal.instances.models import Instance
from tests.e2e import flows


def test_it_promotes_a_rehearsal_to_another_environment(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    rehearsal_id = flows.provision(page, info, "Contoso Sales")

    page.goto(f"/instances/{rehearsal_id}/")
    page.once("dialog", lambda dialog: dialog.accept())  # "Start a new setup for the production twin …?"
    page.get_by_role("button", name="Promote…").click()
    flows.expect_stage(page, 2, "Environment")
    expect(page.get_by_text("Promoting “Contoso Sales”")).to_be_visible()
    expect(page.locator("ol.steps li.done")).to_have_count(1)  # the account stage carried over

    page.get_by_label("Where your environments are").select_option(
        label="Sandbox tenant (local, for trying the portal)")
    page.get_by_role("button", name="Find my environments").click()
    page.wait_for_url(re.compile(re.escape(info["browser_base"]) + r"/.*"))
    flows.sandbox_sign_in(page, info, consent=None)
    flows.expect_stage(page, 2, "Environment")
    expect(page.locator("table.discovered-environments tr", has_text="Contoso Europe")).to_contain_text("Production")
    page.get_by_label("Contoso Europe").check()
    page.shots("promotion-environment")
    flows.save(page)

    flows.expect_stage(page, 3, "Directory and application")
    expect(page.get_by_label(flows.AUTH_LABELS["oauth2"])).to_be_checked()  # carried over
    flows.do_application(page)
    flows.do_keys(page, info["client_id"], info["client_secret"])
    flows.do_permissions(page)
    flows.do_review(page, info["client_secret"])
    flows.authorize_oauth(page, info, consent=None)  # the same user consented to the app while rehearsing

    flows.expect_stage(page, 8, "Create instance")
    expect(page.get_by_label("Instance name")).to_have_value("Contoso Sales (production)")
    expect(page.get_by_label("Tags")).to_have_value("sales, e2e")
    expect(page.get_by_label("Poll Dynamics for changes (events)")).to_be_checked()
    expect(page.get_by_label("Leads")).to_be_checked()
    page.shots("promotion-instance-settings")
    page.get_by_role("button", name="Create instance").click()
    page.wait_for_url(re.compile(r"/instances/[0-9a-f-]+/progress/$"))
    flows.wait_ready(page, "Contoso Sales (production)")

    promoted = Instance.objects.get(name="Contoso Sales (production)")
    rehearsal = Instance.objects.get(pk=rehearsal_id)
    assert promoted.promoted_from_id == rehearsal.pk and promoted.dynamics_url.endswith("/contoso-eu")
    assert rehearsal.dynamics_url != promoted.dynamics_url and promoted.token_cache
    assert promoted.polling_resources == rehearsal.polling_resources
    page.goto(f"/instances/{promoted.pk}/")
    expect(page.locator("dl.facts").filter(has_text="Promoted from")).to_contain_text("Contoso Sales")
    expect(page.locator("dt:text-is('Environment type') + dd")).to_contain_text("Production")
    expect(page.get_by_role("button", name="Promote…")).to_have_count(0)  # nothing to promote production to
    page.shots("promoted-instance")
    page.goto(f"/instances/{rehearsal.pk}/")
    expect(page.get_by_role("link", name="Contoso Sales (production)")).to_be_visible()
    expect(page.locator("dt:text-is('Environment type') + dd")).to_have_text("Sandbox")
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"instance.promotion_started", "instance.promoted", "instance.promoted_from"} <= verbs
