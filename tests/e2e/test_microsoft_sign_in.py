"""Browser journeys: Sign in with Microsoft against the sandbox tenant, with Entra groups mapped to
teams and roles, and password sign-in off except for a break-glass portal administrator."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from setup_portal.sandbox.info import sandbox_info
from setup_portal.teams.models import GroupMapping, Membership, Team
from tests.conftest import PASSWORD, ROOT, subprocess_env
from tests.e2e.conftest import Shots, _free_port, wait_until_serving

CRM_REVIEWERS = "c4a8e2f6-3b1d-4f7a-9e5c-8d2b6a4f0e1c"
NESTOR = ("nestor@contoso.onmicrosoft.com", "Sandbox-Reviewer-Pass-1!")
GRADY = ("grady@contoso.onmicrosoft.com", "Sandbox-Overage-Pass-1!")
LEE = ("lee@contoso.onmicrosoft.com", "Sandbox-User-Pass-1!")


@pytest.fixture(scope="module")
def sso_portal(sandbox, django_db_setup, django_db_blocker, tmp_path_factory):
    """The portal's web process with Sign in with Microsoft through the sandbox tenant, as `make run`
    configures it, and password sign-in off except for the break-glass user `root`."""
    log_dir = tmp_path_factory.mktemp("sso-web")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    info = sandbox_info()
    env = subprocess_env(
        PORTAL_BASE_URL=base_url, MICROSOFT_LOGIN_CLIENT_ID=info["sign_in_client_id"],
        MICROSOFT_LOGIN_SECRET=info["sign_in_client_secret"], MICROSOFT_LOGIN_TENANT=info["tenant_id"],
        MICROSOFT_LOGIN_AUTHORITY=info["backchannel_base"], MICROSOFT_LOGIN_CA_FILE=info["ca_cert_path"],
        MICROSOFT_LOGIN_GRAPH_URL=f"{info['backchannel_base']}/graph", LOCAL_LOGIN_ENABLED="0",
        BREAK_GLASS_USERS="root")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True, timeout=120)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4"],
        cwd=ROOT, env=env, stdout=open(log_dir / "web.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_serving(f"{base_url}/healthz", log_dir / "web.log")
        yield base_url
    finally:
        os.killpg(web.pid, 15)
        web.wait(10)


@pytest.fixture
def page(sso_portal, browser, transactional_db, request):
    context = browser.new_context(base_url=sso_portal, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20000)
    page = context.new_page()
    page.shots = Shots(page, request.node.name.replace("_", "-"))
    yield page
    context.close()


@pytest.fixture
def reviewers_lead_sales(db):
    team = Team.objects.create(name="Sales")
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=team, role="teamlead")
    return team


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=subprocess_env(), capture_output=True,
                   timeout=60, check=True)


def sign_in_with_microsoft(page, username: str, password: str, *, shot: str = "") -> None:
    page.goto("/accounts/login/")
    if shot:
        page.shots(shot)
    page.get_by_role("button", name="Sign in with Microsoft").click()
    expect(page.get_by_text("Sandbox tenant — not Microsoft.")).to_be_visible()
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_reviewer_lands_as_team_lead_and_leaves_with_the_group(page, sandbox, reviewers_lead_sales,
                                                                   django_user_model):
    sign_in_with_microsoft(page, *NESTOR, shot="login-page")
    page.wait_for_url("**/")
    expect(page.locator(".who")).to_have_text("Team lead")
    page.shots("signed-in-as-team-lead")
    nestor = django_user_model.objects.get(email=NESTOR[0])
    assert Membership.objects.get(user=nestor).team == reviewers_lead_sales
    assert not nestor.has_usable_password()

    page.context.clear_cookies()
    sandbox.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": NESTOR[0], "member": False})
    try:
        sign_in_with_microsoft(page, *NESTOR)
        expect(page.get_by_role("heading", name="No access to this portal yet")).to_be_visible()
    finally:
        sandbox.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": NESTOR[0], "member": True})
    assert not Membership.objects.filter(user=nestor).exists()


def test_a_user_in_too_many_groups_for_the_token_gets_them_from_graph(page, reviewers_lead_sales,
                                                                        django_user_model):
    sign_in_with_microsoft(page, *GRADY)
    page.wait_for_url("**/")
    expect(page.locator(".who")).to_have_text("Team lead")
    grady = django_user_model.objects.get(email=GRADY[0])
    assert Membership.objects.get(user=grady).team == reviewers_lead_sales


def test_a_user_with_no_mapped_group_is_refused(page, reviewers_lead_sales, django_user_model):
    sign_in_with_microsoft(page, *LEE)
    expect(page.get_by_role("heading", name="No access to this portal yet")).to_be_visible()
    expect(page.get_by_text("lee@contoso.onmicrosoft.com")).to_be_visible()
    page.shots("refused")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert not django_user_model.objects.filter(email=LEE[0]).exists()


def test_only_the_break_glass_administrator_signs_in_with_a_password(page):
    # Made by the portal's own command, so the passwords are hashed as the web process checks them.
    manage("createuser", "root", "--portal-admin", "--password", PASSWORD)
    manage("createuser", "bob", "--role", "admin", "--password", PASSWORD)
    page.goto("/accounts/login/")
    expect(page.get_by_label("Password")).to_be_hidden()
    page.get_by_text("Administrator sign-in").click()
    page.get_by_label("Username or e-mail").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Sign-in with a password is turned off")
    page.shots("password-refused")
    page.get_by_label("Username or e-mail").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.shots("after-root-sign-in")
    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Entra ID groups").click()
    expect(page.get_by_text("nobody can sign in with Microsoft")).to_be_visible()
    page.get_by_label("Entra ID group object ID").fill(CRM_REVIEWERS)
    page.get_by_label("Portal administrator").check()
    page.get_by_role("button", name="Map the group").click()
    expect(page.get_by_text("its members get it at their next sign-in")).to_be_visible()
    expect(page.get_by_role("cell", name=CRM_REVIEWERS, exact=True)).to_be_visible()
    page.shots("entra-groups-page")
    assert GroupMapping.objects.get().portal_admin
