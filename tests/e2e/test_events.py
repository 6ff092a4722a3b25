"""Browser journey: events turned on in the wizard with "Use the sandbox tenant", the signing secret
shown once, deliveries watched in the sandbox's webhook inspector and in the delivery log, a receiver
failing once then getting the retry, and a redelivery — on the real stack (web, worker, sandbox)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e import flows

RETRY_WAIT_MS = 30_000  # the first retry comes ~5 s (±20 %) after a failure


def test_events_on_inspector_delivery_log_and_redeliver(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.sandbox_shortcut(page)
    flows.save(page)
    flows.authorize_oauth(page, info)

    # Stage 8: events on, pointed at a fresh bin of the sandbox's inspector.
    flows.expect_stage(page, 8, "Create instance")
    page.get_by_label("Instance name").fill("Contoso events")
    page.get_by_label("Send events to a callback URL (webhooks)").check()
    page.get_by_role("button", name="Use the sandbox tenant").click()
    callback = page.locator("#id_callback_url")
    expect(callback).to_have_value(re.compile(re.escape(info["backchannel_base"]) + r"/_sandbox/webhooks/[\w-]+$"))
    expect(page.get_by_label("Instance name")).to_have_value("Contoso events")
    bin_url = callback.input_value()
    bin_name = bin_url.rsplit("/", 1)[1]
    page.shots("stage-8-events")
    page.get_by_role("button", name="Create instance").click()
    flows.wait_ready(page, "Contoso events")
    expect(page.get_by_text("Webhooks are on.")).to_be_visible()
    instance_id = re.search(r"/instances/([0-9a-f-]+)/progress/", page.url).group(1)

    # The signing secret, once.
    page.goto(f"/instances/{instance_id}/events/")
    secret = page.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    expect(page.get_by_text("open the webhook inspector")).to_be_visible()
    page.shots("events-settings-secret-once")
    page.reload()
    expect(page.locator("#webhook-secret")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(secret)

    # instance.ready arrived at the inspector, its signature verified there with the secret.
    inspector = f"{info['browser_base']}/_sandbox/webhooks/{bin_name}"

    def arrived() -> list[dict]:
        return sandbox.admin("GET", f"webhooks/{bin_name}?format=json")["deliveries"]

    for _ in range(150):
        if any(d["type"] == "instance.ready" for d in arrived()):
            break
        page.wait_for_timeout(200)
    assert any(d["type"] == "instance.ready" and d["verified"] for d in arrived())

    # A receiver failing once: the test event fails, then the retry gets it.
    sandbox.admin("POST", f"webhooks/{bin_name}/config", {"fail": "500", "times": 1})
    page.goto(f"/instances/{instance_id}/deliveries/")
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_text(re.compile(r"Test event msg_\w+ queued"))).to_be_visible()
    test_row = page.locator("tr.delivery", has_text="webhook.test")
    expect(test_row).to_have_count(1)
    for _ in range(RETRY_WAIT_MS // 1000):
        if test_row.get_attribute("data-status") == "succeeded":
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(test_row.locator(".badge")).to_have_text("Succeeded")
    test_row.locator("summary", has_text="Attempts (2)").click()
    expect(test_row.locator(".attempts li")).to_have_count(2)
    expect(test_row.locator(".attempts")).to_contain_text("500")
    page.shots("delivery-log-retried")

    # Redeliver the test event: the inspector gets it again under the same webhook-id.
    test_id = test_row.locator("code").first.inner_text().strip()
    test_row.get_by_role("button", name=re.compile("Redeliver")).click()
    expect(page.get_by_text(f"Redelivering webhook.test ({test_id}).")).to_be_visible()
    for _ in range(60):
        copies = [d for d in arrived() if d["webhook_id"] == test_id and d["answered"] == "200"]
        if len(copies) == 2:
            break
        page.wait_for_timeout(250)
    assert len(copies) == 2 and all(d["verified"] for d in copies)

    page.goto(inspector)
    expect(page.get_by_role("heading", name=f"Webhook bin {bin_name}")).to_be_visible()
    rows = page.locator("tr.delivery")
    expect(rows.filter(has_text="webhook.test")).to_have_count(3)  # failed once, retried, redelivered
    expect(rows.filter(has_text="instance.ready").locator(".verified")).to_have_count(1)
    page.shots("inspector")
    # Filter the log to what succeeded.
    page.goto(f"/instances/{instance_id}/deliveries/?status=succeeded")
    expect(page.locator("tr.delivery[data-status='succeeded']").first).to_be_visible()
    expect(page.locator("tr.delivery:not([data-status='succeeded'])")).to_have_count(0)
    page.shots("delivery-log-filtered")
