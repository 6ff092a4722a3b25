"""The Users pages (portal administrators): people, their teams and roles, portal administration.

Changes that take something away or hand out power (a new role, leaving a team, portal
administration) ask for confirmation on a page of their own first; every change is an action
in accounts.actions, audited there.
"""

from __future__ import annotations

from allauth.account import views as allauth_views
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from setup_portal.teams import roles
from setup_portal.teams.models import Membership

from .actions import (
    do_add_membership,
    do_change_membership_role,
    do_create_user,
    do_remove_membership,
    do_set_new_password,
    do_set_portal_admin,
)
from .forms import AddToTeamForm, AddUserForm, PortalAdminForm, RoleForm

CONFIRMED = "confirmed"


def _with_memberships(users):
    return users.prefetch_related("groups", Prefetch("memberships", Membership.objects.select_related("team")))


@roles.portal_admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    users = _with_memberships(get_user_model().objects.order_by("username"))
    rows = []
    for user in users:
        user._portal_groups = {g.name for g in user.groups.all()}  # read by roles.is_portal_admin, no query
        rows.append({"user": user, "portal_admin": roles.is_portal_admin(user),
                     "memberships": list(user.memberships.all())})
    return render(request, "accounts/user_list.html", {"rows": rows})


@roles.portal_admin_required
def user_add(request: HttpRequest) -> HttpResponse:
    form = AddUserForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            user, password = do_create_user(data["username"], role=data["role"] or None, team=data["team"],
                                            email=data["email"], password=data["password"] or None,
                                            portal_admin=data["portal_admin"], acting_user=request.user)
            generated = not data["password"]
            return render(request, "accounts/user_created.html",
                          {"new_user": user, "password": password if generated else None,
                           "memberships": list(user.memberships.select_related("team")),
                           "portal_admin": data["portal_admin"]})
        return render(request, "accounts/user_add.html", {"form": form}, status=400)
    return render(request, "accounts/user_add.html", {"form": form})


def _user_page(request: HttpRequest, target, *, add_form: AddToTeamForm | None = None,
               status: int = 200) -> HttpResponse:
    memberships = list(target.memberships.select_related("team"))
    return render(request, "accounts/user_detail.html", {
        "target": target, "memberships": memberships, "role_choices": Membership.Role.choices,
        "target_is_portal_admin": roles.is_portal_admin(target),
        "add_form": add_form or AddToTeamForm(user=target),
    }, status=status)


@roles.portal_admin_required
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    return _user_page(request, get_object_or_404(get_user_model(), pk=user_id))


@require_POST
@roles.portal_admin_required
def membership_add(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    form = AddToTeamForm(request.POST, user=target)
    if not form.is_valid():
        return _user_page(request, target, add_form=form, status=400)
    add_membership(request, target, form.cleaned_data["team"], form.cleaned_data["role"])
    return redirect("user_detail", user_id=target.pk)


def add_membership(request: HttpRequest, user, team, role: str) -> None:
    """Put `user` in `team` with `role` and say how it went (from a user's page or a team's)."""
    try:
        do_add_membership(user, team, role, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{user.get_username()} is now {Membership.Role(role).label} of {team.name}.")


def _back(request: HttpRequest, membership: Membership) -> str:
    """Back to the page the change was made from: the team's or the user's."""
    if request.POST.get("back") == "team":
        return reverse("team_detail", kwargs={"team_id": membership.team_id})
    return reverse("user_detail", kwargs={"user_id": membership.user_id})


def _confirm(request: HttpRequest, *, title: str, body: str, button: str, fields: dict[str, str],
             cancel: str, danger: bool = False) -> HttpResponse:
    """The confirmation step: the same form again, with confirmed=yes."""
    return render(request, "accounts/confirm.html", {
        "title": title, "body": body, "button": button, "fields": fields, "cancel": cancel,
        "danger": danger, "action_url": request.path})


@require_POST
@roles.portal_admin_required
def membership_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user", "team"), pk=membership_id)
    back = _back(request, membership)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick one of the listed roles.")
        return redirect(back)
    role = Membership.Role(form.cleaned_data["role"])
    name, team = membership.user.get_username(), membership.team.name
    if role == membership.role:
        messages.info(request, f"{name} is {role.label} of {team} already; nothing changed.")
        return redirect(back)
    if request.POST.get(CONFIRMED) != "yes":
        what = ("sets up, changes and deletes the team's instances" if role == Membership.Role.ADMIN
                else "reviews the team's instances and changes no configuration")
        return _confirm(request, title=f"Make {name} {role.label} of {team}?",
                        body=f"{name} is {membership.get_role_display()} of {team} now. As {role.label}, "
                             f"{name} {what}.", button=f"Make {role.label}",
                        fields={"role": role.value, "back": request.POST.get("back", "")}, cancel=back)
    do_change_membership_role(membership, role, acting_user=request.user)
    messages.success(request, f"{name} is now {role.label} of {team}.")
    return redirect(back)


@require_POST
@roles.portal_admin_required
def membership_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user", "team"), pk=membership_id)
    back = _back(request, membership)
    name, team = membership.user.get_username(), membership.team.name
    if request.POST.get(CONFIRMED) != "yes":
        return _confirm(request, title=f"Remove {name} from {team}?",
                        body=f"{name} stops being {membership.get_role_display()} of {team} at once and no "
                             f"longer sees its setups and instances. Their own setups and instances stay with "
                             f"the team.", button="Remove from team", danger=True,
                        fields={"back": request.POST.get("back", "")}, cancel=back)
    do_remove_membership(membership, acting_user=request.user)
    messages.success(request, f"{name} is no longer in {team}.")
    return redirect(back)


@require_POST
@roles.portal_admin_required
def user_portal_admin(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    back = reverse("user_detail", kwargs={"user_id": target.pk})
    form = PortalAdminForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say whether the user should be a portal administrator.")
        return redirect(back)
    value, name = form.cleaned_data["portal_admin"], target.get_username()
    if value == roles.is_portal_admin(target):
        messages.info(request, f"Nothing changed: {name} {'is' if value else 'is not'} a portal administrator.")
        return redirect(back)
    if not value and target.pk == request.user.pk:
        messages.error(request, "You cannot take away your own portal administration; ask another portal "
                                "administrator.")
        return redirect(back)
    if request.POST.get(CONFIRMED) != "yes":
        if value:
            return _confirm(request, title=f"Make {name} a portal administrator?",
                            body=f"{name} will manage users, teams and memberships, and see every team's "
                                 "setups, instances and audit events.", button="Make portal administrator",
                            fields={"portal_admin": "yes"}, cancel=back)
        return _confirm(request, title=f"Take portal administration away from {name}?",
                        body=f"{name} keeps their team roles but no longer manages users and teams or sees "
                             "other teams.", button="Take it away", danger=True,
                        fields={"portal_admin": "no"}, cancel=back)
    try:
        do_set_portal_admin(target, value, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{name} is {'now' if value else 'no longer'} a portal administrator.")
    return redirect(back)


@require_POST
@roles.portal_admin_required
def user_password(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    if target == request.user:
        messages.error(request, "Change your own password under Change password; it asks for the current one.")
        return redirect("user_detail", user_id=target.pk)
    password = do_set_new_password(target, acting_user=request.user)
    return render(request, "accounts/user_password.html", {"target": target, "password": password})


def password_reset(request: HttpRequest, **kwargs) -> HttpResponse:
    """allauth's password reset when it is on (PASSWORD_RESET_ENABLED); otherwise the way to
    a new password is an admin. The links from earlier reset mails stop working too."""
    if settings.PASSWORD_RESET_ENABLED:
        view = allauth_views.password_reset_from_key if kwargs else allauth_views.password_reset
        return view(request, **kwargs)
    status = 403 if request.method == "POST" else 200
    return render(request, "account/password_reset_off.html", status=status)
