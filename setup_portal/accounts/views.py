from __future__ import annotations

from allauth.account import views as allauth_views
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import roles
from .actions import do_change_role, do_create_user, do_set_new_password
from .forms import AddUserForm, ChangeRoleForm


@roles.admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = []
    for user in users:
        user._portal_groups = {g.name for g in user.groups.all()}
        rows.append({"user": user, "role": roles.role_label(user)})
    return render(request, "accounts/user_list.html", {"rows": rows})


@roles.admin_required
def user_add(request: HttpRequest) -> HttpResponse:
    form = AddUserForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            user, password = do_create_user(data["username"], role=data["role"] or None, email=data["email"],
                                            password=data["password"] or None, acting_user=request.user)
            generated = not data["password"]
            return render(request, "accounts/user_created.html",
                          {"new_user": user, "password": password if generated else None,
                           "role": roles.role_label(user)})
        return render(request, "accounts/user_add.html", {"form": form}, status=400)
    return render(request, "accounts/user_add.html", {"form": form})


@require_POST
@roles.admin_required
def user_role(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    form = ChangeRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick one of the listed roles.")
        return redirect("user_list")
    if target == request.user and form.cleaned_data["role"] != "admin":
        messages.error(request, "You cannot take away your own admin role; ask another admin.")
        return redirect("user_list")
    do_change_role(target, form.cleaned_data["role"] or None, acting_user=request.user)
    messages.success(request, f"{target.get_username()} is now: {roles.role_label(target)}.")
    return redirect("user_list")


@require_POST
@roles.admin_required
def user_password(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=user_id)
    if target == request.user:
        messages.error(request, "Change your own password under Change password; it asks for the current one.")
        return redirect("user_list")
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
