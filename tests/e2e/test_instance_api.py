"""Browser journey: the instance page's API panel, a new instance token, and a change request
answered with an edit (resubmitted, then approved), on the real stack with the sandbox tenant."""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.e2e import flows
from tests.e2e.conftest import Shots


def _call(stack, token: str) -> requests.Response:
    return requests.get(f"{stack.base_url}/api/v1/crm/accounts", params={"pageSize": 3},
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _mails_to(address: str, subject: str, seconds: float = 60) -> int:
    """How many e-mails (files of the web and worker processes) went to `address` with `subject`,
    once the first has arrived."""
    folder = Path(settings.EMAIL_FILE_PATH)
    deadline = time.monotonic() + seconds
    while True:
        texts = [p.read_text() for p in folder.glob("*.log")] if folder.exists() else []
        found = [m for text in texts for m in text.split("-" * 79) if f"To: {address}" in m and subject in m]
        if found or time.monotonic() > deadline:
            return len(found)
        time.sleep(0.2)


def test_instance_api_panel_new_token_and_resubmitted_review(page, stack, sandbox, browser):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    instance_id = flows.provision(page, info, "Contoso API", tags="sales, e2e")
    first_token = flows.show_token(page)
    for _ in range(3):
        assert _call(stack, first_token).status_code == 200

    # The API panel: where to call, the curl example, and the three calls just made.
    page.goto(f"/instances/{instance_id}/")
    panel = page.locator("#api")
    expect(panel.get_by_role("heading", name="API")).to_be_visible()
    expect(panel.locator("#api-base-url")).to_have_text(f"{stack.base_url}/api/v1/crm/")
    expect(panel.locator("#api-curl")).to_contain_text("Authorization: Bearer $INSTANCE_TOKEN")
    expect(panel.locator("#api-calls-24h")).to_have_text("3")
    rows = panel.locator("table.api-calls tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("GET")
    expect(rows.first).to_contain_text("accounts")
    expect(rows.first.locator(".badge")).to_have_text("200")
    expect(rows.first.locator("time")).to_have_text(re.compile(r"ago|now"))  # relative, absolute in the title
    panel.scroll_into_view_if_needed()
    page.shots("instance-api-panel", full_page=False)

    # A new instance token: confirmed, shown on request until copied, and the old one stops at once.
    panel.get_by_role("link", name="Issue a new instance token…").click()
    expect(page.get_by_role("heading", name="Issue a new instance token for Contoso API?")).to_be_visible()
    expect(page.get_by_text("stops working at once")).to_be_visible()
    page.shots("token-confirm")
    page.get_by_role("button", name="Issue a new token").click()
    expect(page.get_by_text("A new instance token was issued")).to_be_visible()
    new_token = flows.show_token(page)
    assert new_token != first_token
    page.shots("token-shown")
    assert _call(stack, first_token).status_code == 401
    assert _call(stack, new_token).status_code == 200
    flows.confirm_token_copied(page)
    page.reload()
    expect(page.locator("main")).not_to_contain_text(new_token)
    # The refused call with the old token belongs to no instance any more: three calls and one.
    expect(page.locator("#api-calls-24h")).to_have_text("4")

    # A team lead, in their own browser, asks for changes.
    lead_context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 860})
    lead = lead_context.new_page()
    lead.shots = Shots(lead, page.shots.folder.name + "-lead")
    try:
        flows.sign_in_as(lead, stack, "bob", "teamlead")
        get_user_model().objects.filter(username="bob").update(email="bob@example.com")
        lead.goto(f"/instances/{instance_id}/")
        expect(lead.locator("#api-calls-24h")).to_have_text("4")  # the panel, read-only
        expect(lead.get_by_role("link", name="Issue a new instance token…")).to_have_count(0)
        expect(lead.get_by_text("Trace logging")).to_have_count(0)
        lead.get_by_label("Comment").fill("Poll opportunities as well, and trace the first day of calls.")
        lead.get_by_role("button", name="Request changes").click()
        expect(lead.locator("#review-state")).to_contain_text("Changes requested by bob")
        lead.shots("changes-requested")

        # The owner is told under the bell (and by e-mail, with the comment).
        page.reload()
        expect(page.locator("a.bell")).to_have_attribute("aria-label", "Notifications: 1 unread")
        page.locator("a.bell").click()
        expect(page.locator("li.notification.unread")).to_contain_text("bob asked for changes to Contoso API.")
        page.goto(f"/instances/{instance_id}/")

        # The admin edits the instance from the change request.
        expect(page.locator("#changes-requested")).to_contain_text("Poll opportunities as well")
        page.get_by_role("link", name="Edit the instance").click()
        expect(page.get_by_role("heading", name="Edit Contoso API")).to_be_visible()
        page.get_by_label("Opportunities").check()
        page.get_by_label("Trace logging").check()
        page.shots("edit-form")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("is back with them for review")).to_be_visible()
        expect(page.locator("#review-state")).to_contain_text("Resubmitted after bob asked for changes")
        expect(page.locator("main")).to_contain_text("Trace logging")
        expect(page.locator("main")).to_contain_text("every 15 min: accounts, contacts, leads, opportunities")
        page.shots("resubmitted-admin")
        # bob, who asked, gets one e-mail about it (the worker's, with what changed), not two.
        assert _mails_to("bob@example.com", "Contoso API was changed") == 1

        # The team lead finds it on their home page and approves it.
        lead.goto("/")
        callout = lead.get_by_role("region", name="Resubmitted after your change request")
        expect(callout).to_contain_text("Contoso API")
        lead.shots("home-resubmitted")
        callout.get_by_role("link", name="Contoso API").click()
        expect(lead.locator("#review-state")).to_contain_text("Resubmitted")
        lead.get_by_role("button", name="Approve").click()
        expect(lead.get_by_text("You approved Contoso API.")).to_be_visible()
        expect(lead.locator("#review-state")).to_contain_text("Approved by bob")
        lead.shots("approved")
    finally:
        lead_context.close()

    # The dashboard's column, sortable.
    page.goto("/instances/?sort=-calls")
    row = page.locator("table.data tbody tr", has_text="Contoso API")
    expect(row.locator("td.num")).to_have_text("4")
    page.shots("dashboard-api-calls")
