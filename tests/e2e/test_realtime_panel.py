"""Browser check: the polling panel of an instance in real-time mode (Dataverse pushes its changes
to the portal's webhook), after a reconciliation poll caught a push the sandbox dropped."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from setup_portal.events.models import RealtimeHook
from setup_portal.polling.poller import poll_instance
from setup_portal.polling.realtime import sync_realtime
from tests.e2e import flows
from tests.instances.factories import sandbox_s2s_instance


def test_it_shows_real_time_mode_the_last_push_and_the_reconciliations_catch(page, stack, sandbox, settings):
    sandbox.clear_faults()
    settings.PORTAL_BASE_URL = stack.base_url
    username = flows.first_admin(page, stack)
    owner = get_user_model().objects.get(username=username)
    inst = sandbox_s2s_instance(owner, sandbox.info, name="Contoso real-time", polling_enabled=True,
                                polling_resources=["accounts", "contacts"], polling_interval_minutes=5)
    assert poll_instance(str(inst.pk)) == "polled"  # the baseline
    RealtimeHook.objects.create(instance=inst, enabled=True)
    assert sync_realtime(inst.pk) == "active"

    sandbox.admin("POST", "dataverse/contoso/changes", {"accounts": {"update": 1}, "seed": 81})
    deadline = time.monotonic() + 30
    while not RealtimeHook.objects.get(instance=inst).pushes and time.monotonic() < deadline:
        time.sleep(0.2)
    sandbox.admin("POST", "webhook-faults", {"drop_percent": 100})
    sandbox.admin("POST", "dataverse/contoso/changes", {"contacts": {"update": 1}, "seed": 82})
    while not sandbox.admin("GET", "webhook-faults")["counters"]["dropped"] and time.monotonic() < deadline:
        time.sleep(0.2)
    sandbox.admin("DELETE", "webhook-faults")
    assert poll_instance(str(inst.pk)) == "polled"  # the reconciliation catches the dropped push

    page.goto(f"/instances/{inst.pk}/")
    panel = page.locator("#polling")
    expect(panel.locator("#realtime-mode")).to_contain_text("real-time")
    expect(panel.locator("#realtime-last-push")).to_contain_text("1 in all")
    expect(panel.locator("#realtime-reconciled")).to_contain_text("caught 1")
    expect(panel.locator("table.poll-tables tbody tr").first).to_contain_text("real-time")
    panel.scroll_into_view_if_needed()
    page.shots("realtime")

    panel.get_by_role("button", name="Poll now").click()
    expect(page.get_by_text("A poll is on its way")).to_be_visible()
    sandbox.admin("POST", "reset", None)
