"""Browser journey: an application lists the instance's tables (GET objects) and the instance page shows
ready-to-run examples in tabs (curl, Python, JavaScript) that the keyboard can switch and copy."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from tests.e2e import flows


def test_objects_list_and_api_examples_on_the_instance_page(page, stack, sandbox):
    sandbox.reset()
    flows.first_admin(page, stack)
    instance_id = flows.provision(page, sandbox.info, "Contoso Examples")
    token = flows.show_token(page)

    objects = requests.get(f"{stack.base_url}/api/v1/crm/objects", headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
    assert objects.status_code == 200, objects.text
    names = {o["name"] for o in objects.json()["objects"]}
    assert {"account", "cr8a2_project"} <= names

    page.goto(f"/instances/{instance_id}/")
    panel = page.locator("#api")
    tabs = panel.get_by_role("tab")
    expect(tabs).to_have_count(3)
    curl = panel.get_by_role("tabpanel", name="curl")
    expect(curl).to_be_visible()
    expect(curl).to_contain_text(f"{stack.base_url}/api/v1/crm/accounts/bulk")
    expect(curl).to_contain_text("$INSTANCE_TOKEN")
    expect(panel.get_by_role("tabpanel", name="Python (requests)")).to_be_hidden()

    tabs.first.focus()
    page.keyboard.press("ArrowRight")
    python = panel.get_by_role("tabpanel", name="Python (requests)")
    expect(python).to_be_visible()
    expect(panel.get_by_role("tab", name="Python (requests)")).to_be_focused()
    expect(curl).to_be_hidden()
    expect(python).to_contain_text("where")
    page.keyboard.press("End")
    expect(panel.get_by_role("tabpanel", name="JavaScript (fetch)")).to_be_visible()
    page.keyboard.press("Tab")  # into the panel, then to its first Copy button
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("Copy")
    page.keyboard.press("Enter")
    expect(focused).to_have_text("Copied")
    expect(panel.get_by_role("link", name="This instance's API in Swagger UI")).to_be_visible()
    panel.get_by_role("tablist").scroll_into_view_if_needed()
    page.shots("instance-api-examples", full_page=False)
    assert token not in page.content()  # its first characters are shown, never the token

    # The instance's own API in the portal's Swagger UI: every table, the token entered under Authorize.
    panel.get_by_role("link", name="This instance's API in Swagger UI").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Contoso Examples: CRM API", timeout=30000)
    expect(page.locator(".opblock-tag-section", has_text="cr8a2_projects").first).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    page.shots("instance-crm-swagger", full_page=False)
