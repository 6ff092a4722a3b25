"""Steps that several browser journeys share: signing in, walking the wizard, the sandbox's
sign-in and consent pages, and waiting for provisioning. Each step asserts what the person sees."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import Stack, login

READY_TIMEOUT_MS = 60_000
SAVE = "Save and continue →"


def first_admin(page: Page, stack: Stack) -> str:
    """Create the first admin the way an operator does (`bootstrap_admin`), and sign in with what it printed."""
    output = stack.manage("bootstrap_admin")
    username, password = re.search(r"Username: (\S+)\s+Password: (\S+)", output).groups()
    login(page, username, password)
    expect(page.get_by_role("heading", name=f"Welcome, {username}")).to_be_visible()
    return username


def sign_in_as(page: Page, stack: Stack, username: str, role: str) -> None:
    """Create a user with a role (`createuser`) and sign in as them."""
    stack.manage("createuser", username, "--role", role, "--password", PASSWORD)
    login(page, username, PASSWORD)
    expect(page.get_by_role("heading", name=f"Welcome, {username}")).to_be_visible()


def expect_stage(page: Page, number: int, heading: str) -> None:
    expect(page.get_by_text(f"Step {number} of 8")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def save(page: Page) -> None:
    page.get_by_role("button", name=SAVE).click()


def start_setup(page: Page) -> None:
    page.goto("/setup/new/")
    expect(page.get_by_role("heading", name="Set up a Dynamics CRM endpoint")).to_be_visible()
    page.get_by_role("button", name="Start", exact=True).click()
    expect_stage(page, 1, "Account")


def do_account(page: Page) -> None:
    expect_stage(page, 1, "Account")
    for label in ("I can sign in to the Dynamics 365", "I am an administrator of the Azure AD",
                  "I can register an application"):
        page.get_by_label(label).check()
    page.shots("wizard-1-account")
    save(page)


def do_environment(page: Page, info: dict) -> None:
    expect_stage(page, 2, "Environment")
    page.get_by_label("Microsoft Dynamics CRM URL").fill(info["dynamics_url"])
    page.get_by_label("Directory (tenant) ID or domain").fill(info["tenant_id"])
    page.get_by_label("Public (worldwide)").check()
    page.shots("wizard-2-environment")
    save(page)
    expect(page.get_by_text("Saved. Detected region:")).to_be_visible()


AUTH_LABELS = {"oauth2": "OAuth 2.0 (authorization code)", "s2s": "Server-to-server (client credentials)",
               "custom": "Custom (a user's name and password)"}


def do_application(page: Page, auth_type: str = "oauth2") -> None:
    expect_stage(page, 3, "Directory and application")
    expect(page.locator("#redirect-uri")).to_contain_text("/azure/callback/")
    page.get_by_label(AUTH_LABELS[auth_type]).check()
    page.get_by_label("Accounts in this organizational directory only").check()
    if auth_type != "custom":
        page.get_by_label("I registered the app").check()
    page.shots("wizard-3-application", docs="wizard")
    save(page)


def secret_expiry() -> str:
    return (dt.date.today() + dt.timedelta(days=180)).isoformat()


def do_keys(page: Page, client_id: str, secret: str) -> None:
    expect_stage(page, 4, "Keys and client ID")
    page.get_by_label("OAuth Client ID in Azure AD").fill(client_id)
    page.get_by_label("OAuth Client Secret in Azure AD").fill(secret)
    page.get_by_label("Secret expires on").fill(secret_expiry())
    page.shots("wizard-4-keys")
    save(page)


def do_custom_account(page: Page, username: str, password: str) -> None:
    expect_stage(page, 4, "Sign-in account")
    expect(page.get_by_text("This account must not use MFA")).to_be_visible()
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.shots("wizard-4-sign-in-account")
    save(page)


def do_permissions(page: Page) -> None:
    expect_stage(page, 5, "Permissions to other applications")
    page.locator("#id_confirmed").check()
    page.shots("wizard-5-permissions")
    save(page)


def do_review(page: Page, secret: str | None = None) -> None:
    expect_stage(page, 6, "Review and save")
    if secret:  # the review shows a masked hint, never the value
        expect(page.locator("main")).not_to_contain_text(secret)
        expect(page.locator("main")).to_contain_text(secret[-4:])
    page.shots("wizard-6-review")
    save(page)
    expect_stage(page, 7, "Authorize")


def sandbox_sign_in(page: Page, info: dict, *, consent: str | None = "Accept") -> None:
    """On the sandbox's pages: sign in, then Accept or Cancel the consent prompt (None: no prompt expected)."""
    expect(page.get_by_role("heading", name=re.compile(r"^Use your .* account$"))).to_be_visible()
    expect(page.get_by_text("Sandbox tenant — not Microsoft.")).to_be_visible()
    page.locator("#username").fill(info["username"])
    page.locator("#password").fill(info["password"])
    page.shots("sandbox-sign-in")
    page.get_by_role("button", name="Sign in").click()
    if consent:
        expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()
        page.shots("sandbox-consent")
        page.get_by_role("button", name=consent, exact=True).click()


def authorize_oauth(page: Page, info: dict, *, consent: str | None = "Accept") -> None:
    """From the Authorize stage: the OAuth redirect dance through the sandbox."""
    expect(page.get_by_role("heading", name="Not authorized yet")).to_be_visible()
    page.shots("wizard-7-authorize")
    page.get_by_role("button", name="Sign in with Microsoft and authorize").click()
    page.wait_for_url(re.compile(re.escape(info["browser_base"]) + r"/.*"))
    sandbox_sign_in(page, info, consent=consent)


def create_instance(page: Page, name: str, tags: str = "sales, e2e") -> None:
    expect_stage(page, 8, "Create instance")
    page.get_by_label("Instance name").fill(name)
    page.get_by_label("Tags").fill(tags)
    page.get_by_label("Poll Dynamics for changes (events)").check()
    page.get_by_label("Leads").check()
    page.shots("wizard-8-instance")
    page.get_by_role("button", name="Create instance").click()
    page.wait_for_url(re.compile(r"/instances/[0-9a-f-]+/progress/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def wait_ready(page: Page, name: str) -> None:
    """Watch the progress page until it says Ready (htmx updates it in place)."""
    expect(page.get_by_text(f"{name} is ready")).to_be_visible(timeout=READY_TIMEOUT_MS)
    expect(page.locator("#progress-live .badge-ok")).to_have_text("Ready")
    expect(page.locator(".step-list li.step-failed")).to_have_count(0)


def show_token(page: Page) -> str:
    """Press "Show token" on the progress or instance page; returns the instance token shown."""
    card = page.locator("#token-reveal")
    expect(card.get_by_role("heading", name="Instance token")).to_be_visible()
    card.get_by_role("button", name="Show token").click()
    expect(page.locator("#instance-token")).to_have_text(re.compile(r"^dci_\S{20,}$"))
    return page.locator("#instance-token").inner_text().strip()


def confirm_token_copied(page: Page) -> None:
    page.locator("#token-reveal").get_by_role("button", name="I have copied it").click()
    expect(page.locator("#token-reveal")).to_contain_text("keeps only its fingerprint")
    expect(page.locator("#instance-token")).to_have_count(0)


def walk_wizard(page: Page, info: dict, *, auth_type: str = "oauth2", secret: str | None = None) -> None:
    """Stages 1-6 typed in by hand with the sandbox tenant's values; ends on Authorize."""
    start_setup(page)
    do_account(page)
    do_environment(page, info)
    do_application(page, auth_type)
    if auth_type == "custom":
        do_custom_account(page, info["username"], info["password"])
    elif auth_type == "s2s":
        do_keys(page, info["s2s_client_id"], secret or info["s2s_client_secret"])
    else:
        do_keys(page, info["client_id"], secret or info["client_secret"])
    do_permissions(page)
    do_review(page, None if auth_type == "custom" else secret or info["client_secret"])


def sandbox_shortcut(page: Page) -> None:
    """"Use the sandbox tenant": every stage filled in, straight to Review."""
    page.goto("/setup/new/")
    page.get_by_role("button", name="Use the sandbox tenant").click()
    expect_stage(page, 6, "Review and save")
    expect(page.get_by_text("Every stage is filled in with the sandbox tenant's values")).to_be_visible()


def provision(page: Page, info: dict, name: str, tags: str = "sales, e2e") -> str:
    """A Ready OAuth instance the quick way (sandbox shortcut, sign-in, consent); returns its id."""
    sandbox_shortcut(page)
    save(page)
    authorize_oauth(page, info)
    create_instance(page, name, tags)
    wait_ready(page, name)
    return re.search(r"/instances/([0-9a-f-]+)/progress/", page.url).group(1)


def finish_to_authorize(page: Page) -> None:
    """After correcting the keys: confirm permissions and review again, back to Authorize."""
    expect_stage(page, 5, "Permissions to other applications")
    page.locator("#id_confirmed").check()
    save(page)
    expect_stage(page, 6, "Review and save")
    save(page)
    expect_stage(page, 7, "Authorize")
