"""Teams in a real browser: a portal administrator creates a team and a user in it; a team lead of
team A never sees team B's instances; an admin of team B cannot act on team A's instance.

Screenshots: test-artifacts/screenshots/<test name>/.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from setup_portal.instances.models import Instance
from setup_portal.teams.models import Team
from tests.conftest import PASSWORD
from tests.e2e import flows
from tests.e2e.conftest import login
from tests.e2e.test_rough_edges import ConsoleWatch, debug_off  # noqa: F401 (a fixture)
from tests.instances.factories import make_instance


def _sign_in(page: Page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name=f"Welcome, {username}")).to_be_visible()


def _two_teams(stack) -> dict:
    """Team A (admin adam, team lead lena) and Team B (admin bea), one Ready instance each."""
    stack.manage("createuser", "adam", "--role", "admin", "--team", "Team A", "--create-team", "--password", PASSWORD)
    stack.manage("createuser", "lena", "--role", "teamlead", "--team", "Team A", "--password", PASSWORD)
    stack.manage("createuser", "bea", "--role", "admin", "--team", "Team B", "--create-team", "--password", PASSWORD)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["adam", "lena", "bea"])}
    team_a, team_b = Team.objects.get(name="Team A"), Team.objects.get(name="Team B")
    return {"a": make_instance(users["adam"], team=team_a, name="Team A sales"),
            "b": make_instance(users["bea"], team=team_b, name="Team B pipeline")}


def test_a_portal_administrator_creates_a_team_and_a_user_in_it(page, stack):
    watch = ConsoleWatch(page)
    admin = flows.first_admin(page, stack)
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.locator("table.users-table")).to_contain_text("Default team · Admin")
    page.shots("users")

    page.get_by_role("link", name="Teams", exact=True).click()
    expect(page.get_by_role("heading", name="Teams", exact=True)).to_be_visible()
    page.get_by_label("Team name").fill("default team")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_text("A team named “default team” already exists; pick another name.")).to_be_visible()
    page.shots("duplicate-team-name")
    page.get_by_label("Team name").fill("Team B")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Team B", level=1)).to_be_visible()
    expect(page.get_by_text("Team “Team B” created. Next: add its admins and team leads.")).to_be_visible()
    expect(page.get_by_text("Nobody is in this team yet.")).to_be_visible()
    page.shots("team-created")

    page.get_by_role("link", name="Add a user").click()
    expect(page.get_by_role("heading", name="Add a user")).to_be_visible()
    page.get_by_label("Username").fill("bea")
    page.get_by_label("Team", exact=True).select_option(label="Team B")
    page.get_by_label("Admin — sets up and manages the team's instances").check()
    page.shots("add-user")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("heading", name="bea was added")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Role: Admin of Team B.")
    password = page.locator("#new-password").text_content().strip()
    page.shots("user-created")

    page.get_by_role("link", name="bea's teams").click()
    expect(page.get_by_role("heading", name="bea", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Team B")).to_be_visible()
    page.shots("user-page")
    # Another team, then a role change there, confirmed on a page of its own.
    page.get_by_label("Team", exact=True).select_option(label="Default team")
    page.get_by_role("button", name="Add to team").click()
    expect(page.get_by_text("bea is now Team lead of Default team.")).to_be_visible()
    page.get_by_label("Role of bea in Default team").select_option(label="Admin")
    page.locator("tr", has_text="Default team").get_by_role("button", name="Change role").click()
    expect(page.get_by_role("heading", name="Make bea Admin of Default team?")).to_be_visible()
    page.shots("confirm-role-change")
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("button", name="Remove from team: Default team").click()
    expect(page.get_by_role("heading", name="Remove bea from Default team?")).to_be_visible()
    page.get_by_role("button", name="Remove from team").click()
    expect(page.get_by_text("bea is no longer in Default team.")).to_be_visible()
    page.shots("removed-from-team")
    page.get_by_role("link", name="Team B").click()
    expect(page.locator("main table")).to_contain_text("bea")
    page.shots("team-page")

    # The portal administrator joins Team B as an admin: now in two teams, the wizard asks which.
    page.get_by_label("User", exact=True).select_option(label=admin)
    page.get_by_label("Role", exact=True).select_option(label="Admin")
    page.get_by_role("button", name="Add to Team B").click()
    expect(page.get_by_text(f"{admin} is now Admin of Team B.")).to_be_visible()
    page.goto("/setup/new/")
    expect(page.get_by_label("Team", exact=True)).to_be_visible()
    page.shots("start-page-team-choice")
    page.get_by_role("button", name="Start", exact=True).click()
    flows.expect_stage(page, 1, "Account")
    for label in ("I can sign in to the Dynamics 365", "I am an administrator of the Azure AD",
                  "I can register an application"):
        page.get_by_label(label).check()
    flows.save(page)
    expect(page.get_by_text("Pick the team this endpoint is for.")).to_be_visible()
    page.get_by_label("Team B").check()
    page.shots("wizard-team-choice")
    flows.save(page)
    flows.expect_stage(page, 2, "Environment")
    watch.assert_clean("the users and teams pages")

    # bea signs in: the wizard puts her setup in Team B without asking, and her Teams page is read-only.
    page.context.clear_cookies()
    login(page, "bea", password)
    flows.start_setup(page)
    expect(page.locator(".team-line")).to_contain_text("Team: Team B")
    page.shots("wizard-team-b")
    page.get_by_role("link", name="Teams", exact=True).click()
    expect(page.get_by_role("link", name="Team B")).to_be_visible()
    expect(page.get_by_text("Create a team")).to_have_count(0)
    page.shots("team-admin-teams")


def test_a_team_lead_of_team_a_never_sees_team_bs_instances(page, stack, debug_off):  # noqa: F811
    instances = _two_teams(stack)
    _sign_in(page, debug_off, "lena")
    page.goto(f"{debug_off}/instances/")
    table = page.locator("main")
    expect(table).to_contain_text("Team A sales")
    expect(table).not_to_contain_text("Team B pipeline")
    page.shots("team-a-dashboard")
    page.goto(f"{debug_off}/instances/?q=pipeline")
    expect(page.locator("main")).not_to_contain_text("Team B pipeline")

    for path in ("", "progress/", "edit/"):
        page.goto(f"{debug_off}/instances/{instances['b'].pk}/{path}")
        expect(page.get_by_role("heading", name="There is nothing here")).to_be_visible()
        expect(page.locator("summary[aria-label='Account menu for lena']")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Team B pipeline")
    page.shots("404-team-b-instance")
    page.get_by_role("link", name="All instances").click()
    expect(page.get_by_role("link", name="Team A sales")).to_be_visible()

    page.goto(f"{debug_off}/audit/")
    expect(page.locator("main")).not_to_contain_text("Team B pipeline")
    page.shots("team-a-audit-log")


def test_an_admin_of_team_b_cannot_act_on_team_as_instance(page, stack, debug_off):  # noqa: F811
    instances = _two_teams(stack)
    _sign_in(page, debug_off, "bea")
    page.goto(f"{debug_off}/instances/{instances['a'].pk}/")
    expect(page.get_by_role("heading", name="There is nothing here")).to_be_visible()
    page.shots("404-team-a-instance")

    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for action in ("disable", "delete", "rotate-secret", "edit", "test-connection"):
        response = page.request.post(f"{debug_off}/instances/{instances['a'].pk}/{action}/",
                                     form={"confirmed": "yes"}, headers={"X-CSRFToken": csrf})
        assert response.status == 404, (action, response.status)
    assert Instance.objects.get(pk=instances["a"].pk).status == Instance.Status.READY

    # Her own team's instance: she can act on it.
    page.goto(f"{debug_off}/instances/{instances['b'].pk}/")
    expect(page.get_by_role("heading", name="Team B pipeline")).to_be_visible()
    expect(page.get_by_role("button", name="Disable")).to_be_visible()
    page.shots("own-team-instance")
