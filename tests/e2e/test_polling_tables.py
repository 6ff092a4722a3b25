"""Browser check: the Edit page offers a custom change-tracked table for polling (read from the
environment's metadata), not an untracked one, and the events page names what is polled."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.e2e import flows
from tests.instances.factories import sandbox_s2s_instance


def test_it_offers_custom_change_tracked_tables_for_polling(page, stack, sandbox):
    username = flows.first_admin(page, stack)
    owner = get_user_model().objects.get(username=username)
    inst = sandbox_s2s_instance(owner, sandbox.info, name="Contoso custom polling", polling_enabled=True,
                                polling_resources=["accounts"], polling_interval_minutes=5)

    page.goto(f"/instances/{inst.pk}/edit/")
    project = page.get_by_label("Projects (cr8a2_project)")
    expect(project).to_be_visible()
    expect(page.get_by_label("Accounts", exact=True)).to_be_checked()
    expect(page.get_by_text("cr8a2_milestone")).to_have_count(0)
    project.check()
    project.scroll_into_view_if_needed()
    page.shots("edit-tables")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/instances/{inst.pk}/")

    inst.refresh_from_db()
    assert inst.polling_resources == ["accounts", "cr8a2_project"]
    page.goto(f"/instances/{inst.pk}/events/")
    expect(page.get_by_text("Polled: accounts, cr8a2_project")).to_be_visible()
    page.shots("events-page")
