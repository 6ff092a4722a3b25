"""Browser journey: the admin leaves the progress page while provisioning runs (to the instance page, then
closes the tab), and still gets the new instance token from the instance page, once, until confirming."""

from __future__ import annotations

import re
import time

import requests
from playwright.sync_api import expect

from setup_portal.instances.models import Instance
from tests.e2e import flows
from tests.e2e.conftest import Shots

READY_SECONDS = flows.READY_TIMEOUT_MS / 1000


def _wait_ready(name: str) -> Instance:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        instance = Instance.objects.filter(name=name).first()
        if instance is not None and instance.status == Instance.Status.READY:
            return instance
        time.sleep(0.2)
    raise AssertionError(f"{name} was not Ready within {READY_SECONDS:.0f}s")


def test_a_token_left_behind_mid_provisioning_is_shown_on_the_instance_page_until_confirmed(page, stack, sandbox):
    sandbox.reset()
    flows.sign_in_as(page, stack, "alice", "admin")
    flows.sandbox_shortcut(page)
    flows.save(page)
    flows.authorize_oauth(page, sandbox.info)
    flows.expect_stage(page, 8, "Create instance")
    # A slow WhoAmI keeps provisioning busy while the admin walks away.
    sandbox.faults(endpoint="whoami", latency_ms=4000, times=1)
    flows.create_instance(page, "Token Contoso")
    expect(page.locator(".step-list li.step-running", has_text="Identify the signed-in user (WhoAmI)")).to_be_visible(
        timeout=flows.READY_TIMEOUT_MS)
    page.get_by_role("link", name="Instance page").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Token Contoso")
    instance_url = page.url
    assert re.search(r"/instances/[0-9a-f-]+/$", instance_url)
    page.shots("instance-page-while-provisioning")
    context = page.context
    page.close()  # the tab is gone before the instance is Ready

    instance = _wait_ready("Token Contoso")
    tab = context.new_page()
    tab.shots = Shots(tab, "test-a-token-left-behind-instance-page")
    tab.goto(instance_url)
    card = tab.locator("#token-reveal")
    expect(card).to_contain_text("waiting for you, and only you.")
    assert "dci_" not in card.inner_text()  # only a button until asked
    tab.shots("token-waiting")
    token = flows.show_token(tab)
    tab.shots("token-shown")
    answer = requests.get(f"{stack.base_url}/api/v1/crm/accounts", params={"pageSize": 1},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    flows.confirm_token_copied(tab)
    tab.shots("token-confirmed")

    # Never shown again: not after a reload, not on the progress page.
    tab.reload()
    expect(tab.get_by_role("heading", level=1)).to_contain_text("Token Contoso")
    expect(tab.locator("#token-reveal")).to_have_count(0)
    expect(tab.locator("main")).not_to_contain_text(token)
    tab.goto(f"/instances/{instance.pk}/progress/")
    flows.wait_ready(tab, "Token Contoso")
    expect(tab.get_by_role("button", name="Show token")).to_have_count(0)
    expect(tab.locator("main")).not_to_contain_text(token)
    tab.shots("progress-after-confirming")
    instance.refresh_from_db()
    assert instance.token_pending_reveal == "" and instance.token_prefix == token[:12]
