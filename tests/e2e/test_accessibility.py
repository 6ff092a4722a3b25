"""WCAG 2.1 AA on the pages the other journeys pass through quickly, the API docs, and the keyboard:
a visible focus, the account menu closed with Escape and focus back on its button, the dashboard's
filters used from the keyboard. Every page here is also checked by axe-core (tests/e2e/accessibility.py)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e import accessibility, flows

PAGES = ["/", "/setup/", "/setup/new/", "/instances/", "/audit/", "/users/", "/users/teams/", "/users/add/",
         "/account/api-keys/", "/users/api-keys/", "/notifications/", "/accounts/password/change/", "/accounts/2fa/"]


def focused_outline(page) -> str:
    return page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")


def test_it_finds_no_serious_violation_on_the_portal_pages(page, stack, sandbox):
    flows.first_admin(page, stack)
    for path in PAGES:
        response = page.goto(path)
        assert response.status == 200, path
    assert len(page.axe.pages) >= len(PAGES)


def test_it_themes_the_api_docs_so_their_contrast_passes(page, stack, sandbox):
    flows.first_admin(page, stack)
    page.goto("/api/v1/docs/")
    first_operation = page.locator(".opblock-summary").first
    expect(first_operation).to_be_visible(timeout=30_000)
    first_operation.click()  # an operation open: parameters, responses, examples
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.shots("api-docs-top", full_page=False)
    page.locator(".opblock-body").first.scroll_into_view_if_needed()
    page.shots("api-docs-operation", full_page=False)
    accessibility.check(page, "Swagger UI rendered, one operation open")


def test_it_shows_focus_and_closes_the_account_menu_with_escape(page, stack, sandbox):
    username = flows.first_admin(page, stack)
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    expect(page.get_by_role("link", name="Skip to content")).to_be_in_viewport()
    page.shots("home-skip-link-focused", full_page=False)
    menu = page.locator("details.user-menu")
    summary = menu.locator("summary")
    for _ in range(15):
        page.keyboard.press("Tab")
        if summary.evaluate("el => el === document.activeElement"):
            break
    expect(summary).to_be_focused()
    assert focused_outline(page) == "solid"
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    expect(menu.get_by_role("link", name="Change password")).to_be_focused()
    page.shots("account-menu-open-focused", full_page=False)
    accessibility.check(page, "account menu open")
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
    assert username in summary.inner_text()


def test_it_filters_the_dashboard_from_the_keyboard(page, stack, sandbox):
    flows.first_admin(page, stack)
    page.goto("/instances/")
    search = page.locator("#id_q")
    for _ in range(30):
        page.keyboard.press("Tab")
        if search.evaluate("el => el === document.activeElement"):
            break
    expect(search).to_be_focused()
    assert focused_outline(page) == "solid"
    page.keyboard.type("nothing-matches-this")
    page.shots("dashboard-filter-focused", full_page=False)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=nothing-matches-this"))
