"""Pages for personal API keys: a person's own (create, shown once; revoke), and everyone's for
portal administrators. MeView (GET /api/v1/me) is the smallest management API call: who a key acts as."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from setup_portal.teams import permissions, roles

from ..models import ApiKey
from ..rest.base import ManagementView
from ..rest.schema import operation
from .actions import ApiKeyError, do_create_api_key, do_revoke_api_key
from .forms import NewApiKeyForm

_FORMS_SESSION_KEY = "api_key_forms"


def _form_ticket(request: HttpRequest) -> str:
    """A one-time value the create form carries: sending the same form twice (a reload of the
    page that showed the key) makes no second key and shows nothing again."""
    ticket = secrets.token_urlsafe(16)
    request.session[_FORMS_SESSION_KEY] = [*request.session.get(_FORMS_SESSION_KEY, [])[-4:], ticket]
    return ticket


def _spend_ticket(request: HttpRequest) -> bool:
    tickets = request.session.get(_FORMS_SESSION_KEY, [])
    ticket = request.POST.get("ticket", "")
    if ticket not in tickets:
        return False
    request.session[_FORMS_SESSION_KEY] = [t for t in tickets if t != ticket]
    return True


def _my_keys_page(request: HttpRequest, form: NewApiKeyForm, status: int = 200) -> HttpResponse:
    keys = ApiKey.objects.filter(owner=request.user).select_related("revoked_by")
    return render(request, "api_keys/mine.html", {"keys": keys, "form": form, "ticket": _form_ticket(request),
                   "sees_all_keys": roles.is_portal_admin(request.user)},
                  status=status)


@require_http_methods(["GET", "POST"])
@login_required
def my_keys(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _my_keys_page(request, NewApiKeyForm())
    if not _spend_ticket(request):
        messages.info(request, "That form was already sent. Its key was shown once and is listed below; "
                               "it cannot be shown again.")
        return redirect("api_keys:mine")
    form = NewApiKeyForm(request.POST)
    if not form.is_valid():
        return _my_keys_page(request, form, status=400)
    try:
        new = do_create_api_key(request.user, form.cleaned_data["name"],
                                expires_days=form.cleaned_data["expires_days"], acting_user=request.user)
    except ApiKeyError as exc:
        form.add_error(None, str(exc))
        return _my_keys_page(request, form, status=400)
    response = render(request, "api_keys/created.html", {"api_key": new.api_key, "new_key": new.key})
    response["Cache-Control"] = "no-store"  # a key shown once must not come back from a cache
    return response


@roles.portal_admin_required
def all_keys(request: HttpRequest) -> HttpResponse:
    keys = ApiKey.objects.select_related("owner", "revoked_by").order_by("owner__username", "-created_at")
    return render(request, "api_keys/all.html", {"keys": keys})


@require_http_methods(["GET", "POST"])
@login_required
def revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = ApiKey.objects.select_related("owner").filter(pk=key_id).first()
    if api_key is None or not permissions.can_revoke_api_key(request.user, api_key):
        # Someone else's key answers as a missing one: which ids are keys is nobody else's business.
        raise Http404("No API key here.")
    from_all = request.GET.get("from") == "all" and roles.is_portal_admin(request.user)
    back = "api_keys:all" if from_all else "api_keys:mine"
    if request.method == "GET" or request.POST.get("confirmed") != "yes":
        return render(request, "api_keys/revoke.html", {"api_key": api_key, "back": back})
    if do_revoke_api_key(api_key, acting_user=request.user):
        messages.success(request, f"Revoked “{api_key.name}” (dcp_{api_key.prefix}…): "
                                  "calls with it are refused from now on.")
    else:
        messages.info(request, f"“{api_key.name}” was already revoked.")
    return redirect(back)


class _KeyOut(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's first characters after dcp_, as the profile page lists it.")
    expires_at = serializers.DateTimeField()


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField(help_text="As the account menu says it: Admin, Team lead or No role.")
    portal_administrator = serializers.BooleanField()
    api_key = _KeyOut(allow_null=True, help_text="The key this call was made with; null for a browser session.")


class MeView(ManagementView):
    permission_classes = [IsAuthenticated]  # anyone may ask who they are, with a role or not

    @operation(summary="Who am I", operation_id="getMe", tags=["Account"],
               description="The person a personal API key (or the browser session) acts as, with their role, "
                           "and which key it is. A quick check that a key works: a revoked, expired or unknown "
                           "one answers 401.",
               responses={200: MeOut},
               examples=[OpenApiExample("A key", response_only=True, value={
                   "username": "alice", "role": "Admin", "portal_administrator": False,
                   "api_key": {"name": "Nightly provisioning", "prefix": "k3v9q2m7xa",
                               "expires_at": "2027-02-25T09:30:00Z"}})])
    def get(self, request):
        user = request.user
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        return Response(MeOut({"username": user.get_username(), "role": roles.role_label(user),
                               "portal_administrator": roles.is_portal_admin(user), "api_key": api_key}).data)
