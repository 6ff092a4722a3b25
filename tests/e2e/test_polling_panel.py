"""Browser check: the instance page's change-polling panel after a baseline, a poll that found
changes, and a throttled poll, on the real stack with the sandbox data service."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from setup_portal.events.models import PollState
from setup_portal.polling.poller import poll_instance
from tests.e2e import flows
from tests.instances.factories import sandbox_s2s_instance


def test_it_shows_polls_changes_and_a_throttled_poll_in_the_polling_panel(page, stack, sandbox):
    sandbox.clear_faults()
    username = flows.first_admin(page, stack)
    owner = get_user_model().objects.get(username=username)
    inst = sandbox_s2s_instance(owner, sandbox.info, name="Contoso polling", polling_enabled=True,
                                polling_resources=["accounts", "contacts"], polling_interval_minutes=5)
    assert poll_instance(str(inst.pk)) == "polled"  # the baseline
    sandbox.admin("POST", "dataverse/contoso/changes", {"accounts": {"create": 2, "update": 1}, "seed": 71})
    assert poll_instance(str(inst.pk)) == "polled"

    page.goto(f"/instances/{inst.pk}/")
    panel = page.locator("#polling")
    expect(panel.get_by_role("heading", name="Change polling")).to_be_visible()
    expect(panel.locator("#poll-changes")).to_contain_text("3 in the last poll")
    expect(panel.locator("table.poll-tables tbody tr")).to_have_count(2)
    panel.scroll_into_view_if_needed()
    page.shots("polled")

    PollState.objects.filter(instance=inst).update(next_poll_at=None)
    sandbox.faults(endpoint="webapi", status=429, retry_after=45, times=1)
    assert poll_instance(str(inst.pk)) == "throttled"
    page.reload()
    expect(panel.locator(".poll-error").first).to_contain_text("Dynamics CRM asked the portal to slow down")
    panel.scroll_into_view_if_needed()
    page.shots("throttled")
