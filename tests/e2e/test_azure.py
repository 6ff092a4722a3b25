"""Browser journeys through Azure AD's answers: codes posted (never in a URL or the web server's
access log), a reloaded failure still explained, admin consent granted and back in the same tab."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e import flows


def _sandbox_setup_at_authorize(page, stack, sandbox) -> dict:
    """A first admin with a sandbox setup waiting at Authorize (no consent given yet); the sandbox's values."""
    sandbox.reset()
    flows.first_admin(page, stack)
    flows.sandbox_shortcut(page)
    flows.save(page)
    return sandbox.info


def _callback_lines(stack) -> list[str]:
    return [line for line in (stack.log_dir / "access.log").read_text().splitlines() if "/azure/callback/" in line]


def test_the_code_is_posted_and_never_logged(page, stack, sandbox):
    info = _sandbox_setup_at_authorize(page, stack, sandbox)
    flows.authorize_oauth(page, info)
    flows.expect_stage(page, 8, "Create instance")
    expect(page.get_by_text(f"Authorized as {info['username']}")).to_be_visible()
    page.shots("authorized")
    assert not any("code=" in url for url in [page.url, *[e.url for e in page.context.pages]])
    lines = _callback_lines(stack)
    assert any('"POST /azure/callback/ ' in line for line in lines), lines  # the answer, posted
    assert any('"GET /azure/callback/?state=' in line for line in lines), lines  # then the outcome, by GET
    logged = (stack.log_dir / "access.log").read_text()
    assert "code=" not in logged


def test_a_reloaded_failure_is_still_explained(page, stack, sandbox):
    info = _sandbox_setup_at_authorize(page, stack, sandbox)
    flows.authorize_oauth(page, info, consent="Cancel")
    expect(page.get_by_role("heading", name="Consent was declined")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Consent was declined")).to_be_visible()
    expect(page.get_by_text("AADSTS65004", exact=True)).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("already completed")
    page.shots("declined-consent-after-reload")


def test_admin_consent_comes_back_in_the_same_tab(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    flows.first_admin(page, stack)
    flows.sandbox_shortcut(page)
    page.locator("ol.steps li", has_text="Permissions").get_by_role("link").click()
    flows.expect_stage(page, 5, "Permissions to other applications")
    expect(page.locator("#consent-url")).not_to_contain_text("state=")
    page.shots("permissions-consent-button")
    page.get_by_role("button", name="Grant admin consent in Azure AD").click()
    page.wait_for_url(re.compile(re.escape(info["browser_base"]) + r"/.*/v2\.0/adminconsent\?"))
    flows.sandbox_sign_in(page, info, consent="Accept")
    flows.expect_stage(page, 5, "Permissions to other applications")
    expect(page.get_by_text("Admin consent granted for the whole directory")).to_be_visible()
    assert len(page.context.pages) == 1  # no second tab was opened
    page.shots("admin-consent-granted")
