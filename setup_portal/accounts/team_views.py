"""Team pages under /users/teams/: portal administrators list, create and rename teams and
manage who is in them; a team's admins see its members, read-only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from setup_portal.teams import permissions, roles
from setup_portal.teams.models import Membership, Team

from .actions import do_create_team, do_rename_team
from .forms import AddMemberForm, TeamNameForm
from .views import add_membership


def _team_for(user, team_id: int) -> Team:
    """The team if `user` may see it; another team is not found (its name stays private)."""
    try:
        return permissions.visible_teams(user).get(pk=team_id)
    except Team.DoesNotExist:
        raise Http404("No team here, or not one you are an admin of.") from None


def _counted(teams):
    return teams.annotate(
        admins=Count("memberships", filter=Q(memberships__role=Membership.Role.ADMIN), distinct=True),
        team_leads=Count("memberships", filter=Q(memberships__role=Membership.Role.TEAM_LEAD), distinct=True),
        instance_count=Count("instances", filter=~Q(instances__status="deleted"), distinct=True),
    ).order_by("name")


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    teams = permissions.visible_teams(request.user)
    manages = roles.is_portal_admin(request.user)
    form = TeamNameForm(request.POST or None)
    if request.method == "POST":
        if not manages:
            raise PermissionDenied("Only portal administrators create teams.")
        if form.is_valid():
            try:
                team = do_create_team(form.cleaned_data["name"], acting_user=request.user)
            except ValidationError as exc:
                form.add_error("name", exc)
            else:
                messages.success(request, f"Team “{team.name}” created. Next: add its admins and team leads.")
                return redirect("team_detail", team_id=team.pk)
    status = 400 if form.errors else 200
    return render(request, "teams/team_list.html",
                  {"teams": _counted(teams), "form": form, "manages": manages}, status=status)


def _team_page(request: HttpRequest, team: Team, *, rename_form=None, add_form=None, status=200) -> HttpResponse:
    manages = roles.is_portal_admin(request.user)
    members = list(team.memberships.select_related("user").order_by("role", "user__username"))
    return render(request, "teams/team_detail.html", {
        "team": team, "members": members, "manages": manages, "role_choices": Membership.Role.choices,
        "instance_count": team.instances.exclude(status="deleted").count(),
        "setup_count": team.setups.filter(status="draft").count(),
        "rename_form": rename_form or TeamNameForm(initial={"name": team.name}),
        "add_form": add_form or AddMemberForm(team=team),
    }, status=status)


@login_required
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    return _team_page(request, _team_for(request.user, team_id))


@require_POST
@roles.portal_admin_required
def team_rename(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_for(request.user, team_id)
    form = TeamNameForm(request.POST)
    if form.is_valid():
        before = team.name
        try:
            do_rename_team(team, form.cleaned_data["name"], acting_user=request.user)
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            if team.name != before:
                messages.success(request, f"“{before}” is now called “{team.name}”.")
            return redirect("team_detail", team_id=team.pk)
    team.refresh_from_db()
    return _team_page(request, team, rename_form=form, status=400)


@require_POST
@roles.portal_admin_required
def team_member_add(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_for(request.user, team_id)
    form = AddMemberForm(request.POST, team=team)
    if not form.is_valid():
        return _team_page(request, team, add_form=form, status=400)
    add_membership(request, form.cleaned_data["user"], team, Membership.Role(form.cleaned_data["role"]))
    return redirect("team_detail", team_id=team.pk)
