"""A portal without a mail server (PASSWORD_RESET_ENABLED=0): whoever forgot a password is sent to
an admin, and the admin hands out a new one from the Users page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import PASSWORD, ROOT, subprocess_env
from tests.e2e.conftest import Shots, _free_port, login


@pytest.fixture
def reset_off_base_url(stack, transactional_db):
    """A second web server on the stack's database, with password reset turned off."""
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=subprocess_env(PASSWORD_RESET_ENABLED="0"), stdout=open(stack.log_dir / "reset-off.log", "wb"),
        stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base_url}/healthz", timeout=10)
            break
        except (requests.ConnectionError, requests.Timeout):  # a loaded machine boots slowly
            assert time.monotonic() < deadline, (stack.log_dir / "reset-off.log").read_text()[-3000:]
            time.sleep(0.2)
    yield base_url
    os.killpg(web.pid, 15)
    web.wait(10)


def test_a_forgotten_password_comes_from_an_admin(browser, stack, reset_off_base_url):
    # Made by the command, so hashed the way the servers check (the test settings hash faster).
    stack.manage("createuser", "alice", "--role", "admin", "--portal-admin", "--password", PASSWORD)
    stack.manage("createuser", "bob", "--role", "teamlead", "--password", PASSWORD)
    context = browser.new_context(base_url=reset_off_base_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15000)
    page = context.new_page()
    shots = Shots(page, "forgotten-password-reset-off")
    try:
        page.goto("/accounts/login/")
        page.get_by_role("link", name="Forgot your password?").click()
        expect(page.get_by_role("heading", name="Password reset")).to_be_visible()
        expect(page.get_by_text("Ask an admin of this portal for a new password")).to_be_visible()
        expect(page.get_by_label("E-mail")).to_have_count(0)
        shots("reset-off")

        login(page, "alice", PASSWORD)
        page.goto("/users/")
        shots("users")
        page.get_by_role("link", name="Manage bob").click()
        page.once("dialog", lambda dialog: dialog.accept())  # "Give bob a new password? ..."
        page.get_by_role("button", name="New password").click()
        expect(page.get_by_role("heading", name="New password for bob")).to_be_visible()
        shots("new-password-shown-once")
        password = page.locator("#new-password").inner_text()
        assert re.fullmatch(r"\S{16}", password)

        context.clear_cookies()  # a new visitor: bob on his own computer
        login(page, "bob", password)
        expect(page.get_by_role("heading", name="Welcome, bob")).to_be_visible()
    finally:
        context.close()
