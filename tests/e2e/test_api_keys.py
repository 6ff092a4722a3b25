"""Browser journey: a person creates a personal API key, sees it once, uses it from a script,
revokes it, and the script's next call answers 401 — on the real stack (gunicorn)."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.e2e import flows


def _call(stack, path: str, key: str) -> requests.Response:
    return requests.get(f"{stack.base_url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_api_key_created_seen_once_used_and_revoked(page, stack):
    username = flows.first_admin(page, stack)

    # From the account menu to the profile's API keys page.
    page.locator(".user-menu summary").click()
    expect(page.get_by_role("link", name="Everyone's API keys")).to_be_visible()  # a portal administrator
    page.shots("account-menu", full_page=False)
    page.get_by_role("link", name="API keys", exact=True).click()
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    expect(page.get_by_text("You have no API keys yet.")).to_be_visible()

    # A year and a day is refused in plain words; nothing is made.
    page.get_by_label("Name").fill("Nightly provisioning")
    page.get_by_label("Expires after (days)").fill("366")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("A key lasts at most 365 days")).to_be_visible()
    page.shots("expiry-refused")

    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="New API key “Nightly provisioning”")).to_be_visible()
    expect(page.get_by_text("Copy it now: it is shown only this once.")).to_be_visible()
    key = page.locator("#api-key").inner_text().strip()
    assert re.fullmatch(r"dcp_[a-z0-9]{10}_[A-Za-z0-9_-]{43}", key)
    page.shots("key-shown-once")

    # Reloading the page that showed it sends the form again: no second key, and the key is gone.
    page.reload()
    expect(page.get_by_text("That form was already sent.")).to_be_visible()
    assert key not in page.content()
    rows = page.locator("table.api-keys tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Nightly provisioning")
    expect(rows.first).to_contain_text(key[:14] + "…")
    expect(rows.first).to_contain_text("Never")

    # A script uses it.
    answer = _call(stack, "/api/v1/me", key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == username and answer.json()["api_key"]["name"] == "Nightly provisioning"
    instances = _call(stack, "/api/v1/instances", key)
    assert instances.status_code == 200, instances.text
    page.goto("/account/api-keys/")
    expect(rows.first.locator(".last-use")).to_contain_text("from 127.0.0.1")
    expect(rows.first.locator(".badge")).to_have_text("Active")
    assert key not in page.content()
    page.shots("key-listed-after-use")

    # Revoked after a confirmation; the script's next call is refused.
    rows.first.get_by_role("link", name="Revoke Nightly provisioning").click()
    expect(page.get_by_role("heading", name="Revoke the API key “Nightly provisioning”?")).to_be_visible()
    expect(page.get_by_text("stops working at once")).to_be_visible()
    page.shots("revoke-confirm")
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.get_by_text("calls with it are refused from now on")).to_be_visible()
    expect(rows.first.locator(".badge")).to_have_text("Revoked")
    page.shots("key-revoked")

    assert _call(stack, "/api/v1/instances", key).status_code == 401
    refused = _call(stack, "/api/v1/me", key)
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.headers["WWW-Authenticate"].startswith('Bearer realm="api"')
    assert "revoked" in refused.json()["detail"]

    # The portal administrator's list of everyone's keys shows it, revoked, with who revoked it.
    page.goto("/users/api-keys/")
    row = page.locator("table.api-keys tbody tr").first
    expect(row).to_contain_text(username)
    expect(row).to_contain_text(f"by {username}")
    assert key not in page.content()
    page.shots("everyones-keys")
