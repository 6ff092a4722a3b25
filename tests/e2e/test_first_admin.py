import re

from playwright.sync_api import expect

from tests.e2e.conftest import login


def test_the_printed_first_admin_signs_in(page, stack):
    output = stack.manage("bootstrap_admin")
    username, password = re.search(r"Username: (\S+)\s+Password: (\S+)", output).groups()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.shots("login")
    login(page, username, password)
    expect(page.get_by_role("heading", name=f"Welcome, {username}")).to_be_visible()
    expect(page.get_by_role("link", name="Set up endpoint")).to_be_visible()
    page.shots("home-admin")
