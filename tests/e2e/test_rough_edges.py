"""Rough edges a new admin found, checked in Chromium on the real stack: error pages in the
portal's layout, drafts told apart, words that fit their page, no dead ends — and no page
that the Content-Security-Policy breaks (a blocked script or style shows in the console).

Screenshots: test-artifacts/screenshots/<test name>/.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD, ROOT, subprocess_env
from tests.e2e import flows
from tests.e2e.conftest import Shots, _free_port, wait_until_serving

MASK = "\u2022" * 8  # how a secret hint starts ("••••••••wXyZ")
WRONG_SECRET = "Zq8~wrongValueTypedFromMemory.NotTheOne42"


class ConsoleWatch:
    """Collects what the browser reports about the page: CSP and Permissions-Policy violations,
    and uncaught JavaScript errors."""

    def __init__(self, page: Page):
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        # The event names the directive even where the console message is terse.
        page.add_init_script("document.addEventListener('securitypolicyviolation', e => console.error("
                             "'CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));")

    def _console(self, message) -> None:
        text = message.text
        if message.type in {"error", "warning"} and re.search(
                r"Content Security Policy|CSP violation|Permissions-Policy|Permissions policy", text):
            self.problems.append(f"{message.type}: {text}")

    def assert_clean(self, where: str) -> None:
        assert self.problems == [], f"on {where}: {self.problems}"


def _refuse_keys(page: Page, info: dict, times: int) -> None:
    for _ in range(times):
        page.get_by_label("OAuth Client ID in Azure AD").fill("not-a-guid")
        page.get_by_label("OAuth Client Secret in Azure AD").fill(info["client_secret"])
        page.get_by_label("Secret expires on").fill(flows.secret_expiry())
        flows.save(page)
        expect(page.get_by_text("The client ID is a GUID")).to_be_visible()


def test_a_drafts_are_told_apart_and_no_page_breaks_the_csp(page, stack, sandbox):
    sandbox.reset()
    info = sandbox.info
    watch = ConsoleWatch(page)
    flows.first_admin(page, stack)

    # "Set up endpoint" with no drafts starts a setup instead of showing an empty list.
    page.get_by_role("link", name="Set up endpoint").click()
    expect(page).to_have_url(re.compile(r"/setup/new/$"))
    expect(page.get_by_role("heading", name="Set up a Dynamics CRM endpoint")).to_be_visible()
    page.shots("set-up-endpoint-without-drafts")

    # A custom-auth draft: the warning follows the choice; stage 4's heading matches the step bar.
    page.get_by_role("button", name="Start", exact=True).click()
    flows.do_account(page)
    flows.do_environment(page, info)
    warning = page.locator("#custom-warning")
    expect(warning).to_be_hidden()
    page.shots("application-oauth-no-warning")
    page.get_by_label(flows.AUTH_LABELS["custom"]).check()
    expect(warning).to_be_visible()
    page.shots("application-custom-warning")
    page.get_by_label(flows.AUTH_LABELS["oauth2"]).check()
    expect(warning).to_be_hidden()
    page.get_by_label(flows.AUTH_LABELS["custom"]).check()
    page.get_by_label("Accounts in this organizational directory only").check()
    flows.save(page)
    flows.expect_stage(page, 4, "Sign-in account")
    expect(page.locator("ol.steps li.current")).to_contain_text("Sign-in account")
    page.shots("custom-stage-4-heading-matches-step-bar")
    watch.assert_clean("the wizard's first stages")

    # An OAuth draft with three refused attempts at its keys.
    flows.start_setup(page)
    flows.do_account(page)
    flows.do_environment(page, info)
    flows.do_application(page, "oauth2")
    _refuse_keys(page, info, 3)

    page.get_by_role("link", name="Set up endpoint").click()
    expect(page.get_by_role("heading", name="Your drafts")).to_be_visible()
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("OAuth 2.0 (authorization code)")  # the latest activity first
    expect(rows.nth(0)).to_contain_text("Step 4 of 8 · Keys and client ID")
    expect(rows.nth(0)).to_contain_text("3 attempts not accepted")
    expect(rows.nth(1)).to_contain_text("Custom (user name and password)")
    expect(rows.nth(1)).to_contain_text("Step 4 of 8 · Sign-in account")
    page.shots("drafts-told-apart")

    page.get_by_role("link", name="Home").click()
    lines = page.locator(".draft-line")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("step 4: Keys and client ID")
    expect(lines.nth(0)).to_contain_text("3 attempts not accepted at Keys and client ID")
    expect(lines.nth(1)).to_contain_text("step 4: Sign-in account")
    page.shots("home-drafts")

    # Finish the OAuth draft.
    page.get_by_role("link", name="Set up endpoint").click()
    rows.nth(0).get_by_role("link", name=re.compile("^Resume")).click()
    flows.do_keys(page, info["client_id"], info["client_secret"])
    flows.finish_to_authorize(page)
    watch.assert_clean("the wizard")
    flows.authorize_oauth(page, info)

    # Stage 8: the polling options follow the checkbox.
    flows.expect_stage(page, 8, "Create instance")
    polling, leads = page.get_by_label("Poll Dynamics for changes (events)"), page.get_by_label("Leads")
    expect(leads).to_be_disabled()
    expect(page.get_by_label("Polling interval (minutes)")).to_be_disabled()
    page.shots("instance-polling-off")
    polling.check()
    expect(leads).to_be_enabled()
    page.shots("instance-polling-on")
    flows.create_instance(page, "Contoso Rough Edges")
    flows.wait_ready(page, "Contoso Rough Edges")
    watch.assert_clean("the progress page")

    page.get_by_role("link", name="All instances").click()
    expect(page.get_by_role("heading", name="Instances", exact=True)).to_be_visible()
    page.shots("dashboard")
    watch.assert_clean("the dashboard")

    page.get_by_role("link", name="Contoso Rough Edges").click()
    keys = page.locator("ol.timeline li", has_text="Keys and client ID")
    expect(keys.filter(has_text="did not pass")).to_have_count(1)
    expect(keys.filter(has_text="did not pass")).to_contain_text("did not pass ×3")
    page.locator("ol.timeline").scroll_into_view_if_needed()
    page.shots("instance-timeline-collapsed")
    watch.assert_clean("the instance page")

    page.get_by_role("link", name="Audit log", exact=True).click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.shots("audit")
    watch.assert_clean("the audit log")


def test_b_a_change_request_and_refusals_lead_somewhere(page, stack, sandbox, browser):
    sandbox.reset()
    info = sandbox.info
    watch = ConsoleWatch(page)
    flows.first_admin(page, stack)
    instance_id = flows.provision(page, info, "Fabrikam Review")

    lead_context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 860})
    lead = lead_context.new_page()
    lead.shots = Shots(lead, "test-b-a-change-request-and-refusals-lead-somewhere-team-lead")
    lead_watch = ConsoleWatch(lead)
    flows.sign_in_as(lead, stack, "tess", "teamlead")
    for path in ("/instances/", f"/instances/{instance_id}/", "/audit/", "/"):
        lead.goto(path)
        expect(lead.locator("main")).not_to_contain_text(MASK)  # no secret hint for team leads
    lead.goto(f"/instances/{instance_id}/")
    lead.get_by_label("Comment").fill("Use the production organization, not the sandbox.")
    lead.get_by_role("button", name="Request changes").click()
    expect(lead.get_by_text("for changes to Fabrikam Review")).to_be_visible()
    expect(lead.locator("main")).not_to_contain_text(MASK)
    lead.shots("team-lead-requested-changes")

    # A 403 in the portal's layout, with the view's reason and a way back.
    lead.goto("/users/")
    expect(lead.get_by_role("heading", name="You cannot do this here")).to_be_visible()
    expect(lead.get_by_text("This page is for portal administrators.")).to_be_visible()
    lead.shots("403-team-lead-on-users")
    lead.locator("main").get_by_role("link", name="Home").click()
    expect(lead.get_by_role("heading", name="Welcome, tess")).to_be_visible()
    lead_watch.assert_clean("the team lead's pages")
    lead_context.close()

    # The admin is told what can be done about it: no dead end.
    page.goto("/")
    notice = page.get_by_role("region", name="Change requests")
    expect(notice).to_contain_text("Use the production organization, not the sandbox.")
    page.shots("home-change-request")
    notice.get_by_role("link", name="What you can do →").click()
    options = page.locator("#changes-requested")
    expect(options).to_contain_text("tess asked for changes")
    for name in ("Re-authenticate", "Rotate the client secret", "Disable it", "Start a new setup",
                 "delete this instance"):
        expect(options.get_by_text(name, exact=True)).to_be_visible()
    page.shots("what-you-can-do")
    watch.assert_clean("the instance page")

    # A refused rotation points to the rotate form, not to the wizard.
    options.get_by_role("link", name="Rotate the client secret").click()
    page.get_by_label("New client secret value").fill(WRONG_SECRET)
    page.get_by_label("Expires on").fill(flows.secret_expiry())
    page.get_by_role("button", name="Verify and switch").click()
    refusal = page.locator("#refusal")
    expect(refusal).to_contain_text("nothing was changed")
    expect(refusal).not_to_contain_text("Keys stage")
    refusal.get_by_role("link", name="paste it in the form below").click()
    expect(page).to_have_url(re.compile(r"#id_new_secret$"))
    page.shots("rotate-refused-points-to-the-form")
    watch.assert_clean("the rotate page")


@pytest.fixture
def debug_off(stack):
    """A second web process on the same database with DEBUG off: the real 404 and 500 pages."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="tests.e2e.debug_off_settings", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1", FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SECURE_SSL_REDIRECT="0", PASSWORD_RESET_ENABLED="0", PORTAL_BASE_URL=base_url)
    # The manifest that DEBUG-off static files need (the stack collected without one).
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True, timeout=120)
    log = stack.log_dir / "debug-off-web.log"
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                            f"127.0.0.1:{port}", "--workers", "1"], cwd=ROOT, env=env,
                           stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"{base_url}/accounts/login/", log)
    except RuntimeError:
        web.kill()
        raise
    yield base_url
    web.terminate()
    web.wait(10)


def test_c_error_pages_are_in_the_layout_with_a_way_back(page, stack, debug_off):
    watch = ConsoleWatch(page)
    page.goto(f"{debug_off}/no/such/page/")
    expect(page.get_by_role("heading", name="There is nothing here")).to_be_visible()
    expect(page.locator("main")).to_contain_text("/no/such/page/")
    expect(page.locator(".site-header")).to_be_visible()
    page.shots("404-anonymous")
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    stack.manage("createuser", "ada", "--role", "admin", "--password", PASSWORD)
    page.goto(f"{debug_off}/accounts/login/")
    page.get_by_label("Username or e-mail").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Welcome, ada")).to_be_visible()
    page.goto(f"{debug_off}/instances/00000000-0000-4000-8000-000000000000/")
    expect(page.get_by_role("heading", name="There is nothing here")).to_be_visible()
    expect(page.locator("summary[aria-label='Account menu for ada']")).to_be_visible()
    page.shots("404-admin-instance")
    page.get_by_role("link", name="All instances").click()
    expect(page.get_by_role("heading", name="Instances", exact=True)).to_be_visible()

    page.goto(f"{debug_off}/_fail/")
    expect(page.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("on purpose")  # the exception stays in the log
    page.shots("500")
    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", name="Welcome, ada")).to_be_visible()
    watch.assert_clean("the error pages")


def _fits_its_card(page: Page, selector: str, card: str) -> bool:
    """True when `selector` ends inside its `card` (or the card scrolls it sideways), and the card
    and the page fit the viewport."""
    return page.evaluate("""([selector, card]) => {
        const el = document.querySelector(selector);
        const box = el.closest(card);
        const edge = box.getBoundingClientRect().right;
        return edge <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth
            && (el.getBoundingClientRect().right <= edge + 1 || box.scrollWidth > box.clientWidth);
    }""", [selector, card])


def test_d_a_new_user_finds_no_rough_edges_at_1280(page, stack, sandbox, browser):
    sandbox.reset()
    info = sandbox.info
    watch = ConsoleWatch(page)
    flows.first_admin(page, stack)
    expect(page).to_have_title("Home · Dynamics CRM Setup Portal")

    # Events on at stage 8, aimed at a fresh sandbox bin; the callback URL says it is needed.
    flows.sandbox_shortcut(page)
    flows.save(page)
    expect(page.get_by_role("heading", name="Not authorized yet")).to_be_visible()
    page.get_by_role("button", name="Sign in with Microsoft and authorize").click()
    page.wait_for_url(re.compile(re.escape(info["browser_base"]) + r"/.*"))
    hint = page.locator("#sandbox-hint")  # the sandbox tenant's user and password, on its own sign-in page
    expect(hint).to_contain_text(info["username"])
    expect(hint).to_contain_text(info["password"])
    page.shots("sandbox-sign-in-hint")
    flows.sandbox_sign_in(page, info)
    flows.expect_stage(page, 8, "Create instance")
    page.get_by_label("Instance name").fill("Contoso Rough Edges")
    page.get_by_label("Send events to a callback URL (webhooks)").check()
    expect(page.locator("label[for=id_callback_url]")).to_contain_text("(required while events are on)")
    page.get_by_role("button", name="Use the sandbox tenant").click()
    page.get_by_role("button", name="Create instance").click()
    flows.wait_ready(page, "Contoso Rough Edges")
    instance_id = re.search(r"/instances/([0-9a-f-]+)/progress/", page.url).group(1)

    # The inspector link opens the bin on the sandbox's http listener; its JSON stays in its card.
    page.goto(f"/instances/{instance_id}/events/")
    link = page.get_by_role("link", name="open the webhook inspector")
    assert link.get_attribute("href").startswith(info["browser_base"] + "/_sandbox/webhooks/")
    with page.context.expect_page() as opened:
        link.click()
    inspector = opened.value
    inspector.wait_for_load_state()
    assert inspector.url.startswith("http://")
    for _ in range(60):  # instance.ready reaches the bin through the worker
        if inspector.locator("tr.delivery").count():
            break
        inspector.wait_for_timeout(500)
        inspector.reload()
    inspector.locator("tr.delivery-body summary").first.click()
    expect(inspector.locator("tr.delivery-body pre").first).to_be_visible()
    assert _fits_its_card(inspector, "tr.delivery-body pre", ".card")
    inspector.screenshot(path=str(page.shots.folder / "inspector.png"), full_page=True)
    inspector.close()

    # The delivery log: a test event, redelivered; the count agrees with the attempts list.
    page.goto(f"/instances/{instance_id}/deliveries/")
    page.get_by_role("button", name="Send test event").click()
    row = page.locator("tr.delivery", has_text="webhook.test")
    for _ in range(60):
        if row.get_attribute("data-status") == "succeeded":
            break
        page.wait_for_timeout(500)
        page.reload()
    row.get_by_role("button", name=re.compile("Redeliver")).click()
    for _ in range(60):
        if row.locator(".attempts li").count() == 2 and row.get_attribute("data-status") == "succeeded":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(row.locator("summary")).to_have_text("Attempts (2)")
    expect(row.locator("td").nth(2)).to_contain_text("2")
    expect(row.locator("td").nth(2)).to_contain_text("1 since redelivery")
    expect(page).to_have_title("Deliveries · Contoso Rough Edges · Dynamics CRM Setup Portal")
    page.shots("delivery-log")

    # A failing health check: the catalogue says what to do, and the badge is not a green Ready.
    sandbox.faults(endpoint="whoami", status=403, times=3)
    page.goto(f"/instances/{instance_id}/")
    page.get_by_role("button", name="Test connection").click()
    advice = page.locator("#health-advice")
    expect(advice).to_contain_text("What to do:", timeout=30_000)
    expect(advice).to_contain_text("Dynamics CRM refused access")
    sandbox.clear_faults()
    page.reload()
    expect(page.locator(".page-head h1 .badge")).to_have_text("Ready · unhealthy")
    page.shots("instance-health-failing")

    # The audit log reads as words, newest first and none in the future (seeded instances too).
    stack.manage("seed_instances", "60", "--teams", "2")
    page.goto("/audit/")
    expect(page.locator(".audit-data").first).to_be_visible()
    assert "{'" not in page.locator("table.audit-table").inner_text()
    expect(page.locator(".audit-data", has_text="healthy → failing").first).to_be_visible()
    newest = page.locator("table.audit-table tbody tr time").first.get_attribute("datetime")
    assert newest <= page.evaluate("new Date().toISOString()")
    page.shots("audit")

    # The dashboard fits 1280 px (or scrolls inside its card); a search by Enter is kept in the URL.
    page.goto("/instances/")
    expect(page.locator("table.instances-table")).to_be_visible()
    assert _fits_its_card(page, "table.instances-table thead th:last-child", ".table-wrap")
    page.shots("dashboard")
    # At 1280 px the ten columns fit: nothing to scroll sideways, the last column whole.
    wrap = page.evaluate("() => [document.querySelector('.table-wrap').scrollWidth,"
                         " document.querySelector('.table-wrap').clientWidth]")
    assert wrap[0] <= wrap[1], wrap
    page.locator("table.instances-table").scroll_into_view_if_needed()
    page.shots("dashboard-table", full_page=False)
    page.get_by_label("Search").fill("Rough Edges")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=Rough\+Edges"))
    page.reload()
    expect(page.get_by_label("Search")).to_have_value("Rough Edges")
    expect(page.locator("table.instances-table tbody tr")).to_have_count(1)
    watch.assert_clean("the pages of the journey")

    # With DEBUG on (as under make run): the portal's 404 and 405 pages, never Django's URL list.
    page.goto("/no/such/page/")
    expect(page.get_by_role("heading", name="There is nothing here")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("URLconf")
    expect(page).to_have_title("Not found · Dynamics CRM Setup Portal")
    page.shots("404-debug-on")
    page.goto("/setup/sandbox/")
    expect(page.get_by_role("heading", name="This address is not a page")).to_be_visible()
    page.shots("405-debug-on")
    answer = page.request.get("/api/v1/")
    assert answer.status == 404 and answer.headers["content-type"] == "application/problem+json"
