"""Notifications in Chromium: the bell counts entries (a repeat folds into one, with a count), the
notifications page filters by kind, marks what it shows read and mutes an instance, all from the
keyboard; the instance page offers Unmute. Screenshots: test-artifacts/screenshots/<test name>/."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from setup_portal.events.notifications import notify
from tests.e2e import flows
from tests.instances.factories import make_instance


def _tell(user, inst, message: str, kind: str) -> None:
    notify([user], instance=inst, kind=kind, message=message, link=f"/instances/{inst.pk}/")


def test_grouped_entries_filters_mark_read_and_mute_by_keyboard(page, stack):
    flows.sign_in_as(page, stack, "nora", "admin")
    nora = get_user_model().objects.get(username="nora")
    wingtip, fabrikam = make_instance(nora, name="wingtip-prod"), make_instance(nora, name="fabrikam-uat")
    for _ in range(3):
        _tell(nora, wingtip, "wingtip-prod failed its health check: Dataverse answered 503.", "health_failing")
    _tell(nora, fabrikam, "fabrikam-uat needs re-authentication: the refresh token expired.", "needs_reauth")
    page.reload()

    bell = page.locator("a.bell")
    expect(bell).to_have_attribute("aria-label", "Notifications: 2 unread")
    bell.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/notifications/")
    entries = page.locator("li.notification")
    expect(entries).to_have_count(2)
    wingtip_entry = entries.filter(has_text="wingtip-prod failed")
    expect(wingtip_entry.locator(".notification-count")).to_have_text("×3")
    page.shots("grouped-entries")

    # Filter by kind: pick it, Tab to Filter, Enter.
    page.get_by_label("Kind").select_option("health_failing")
    page.get_by_label("Kind").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Filter")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"kind=health_failing"))
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("wingtip-prod")
    page.shots("filtered-by-kind")

    page.get_by_role("button", name="Mark these read").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Marked 1 notification read.")).to_be_visible()
    expect(bell).to_have_attribute("aria-label", "Notifications: 1 unread")
    expect(page).to_have_url(re.compile(r"kind=health_failing"))

    page.get_by_role("link", name="Show all").click()
    page.get_by_role("button", name="Mute instance wingtip-prod").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Muted wingtip-prod")).to_be_visible()
    expect(page.get_by_role("button", name="Unmute wingtip-prod")).to_be_visible()
    page.shots("muted")

    _tell(nora, wingtip, "wingtip-prod failed again.", "health_failing")  # muted: nothing for her
    page.reload()
    expect(bell).to_have_attribute("aria-label", "Notifications: 1 unread")
    expect(page.get_by_text("wingtip-prod failed again.")).to_have_count(0)

    page.goto(f"/instances/{wingtip.pk}/")
    unmute = page.get_by_role("button", name="Unmute notifications")
    expect(unmute).to_be_visible()
    page.shots("instance-page-muted", full_page=False)
    unmute.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Mute notifications")).to_be_visible()
