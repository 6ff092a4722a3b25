"""Users › Entra groups (portal administrators): which Entra ID groups give which team roles and
portal administration at sign-in with Microsoft. Changes are actions in accounts.entra, audited there."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from setup_portal.teams import roles
from setup_portal.teams.models import GroupMapping

from .entra import do_create_group_mapping, do_delete_group_mapping
from .forms import GroupMappingForm


@roles.portal_admin_required
def group_mapping_list(request: HttpRequest) -> HttpResponse:
    form = GroupMappingForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            do_create_group_mapping(data["group_id"], team=data["team"], role=data["role"],
                                    portal_admin=data["portal_admin"], acting_user=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Group {data['group_id']} is mapped; its members get it at their next "
                                      "sign-in with Microsoft.")
            return redirect("group_mapping_list")
    mappings = GroupMapping.objects.select_related("team")
    status = 400 if form.errors else 200
    return render(request, "accounts/group_mappings.html", {"form": form, "mappings": mappings}, status=status)


@require_POST
@roles.portal_admin_required
def group_mapping_remove(request: HttpRequest, mapping_id: int) -> HttpResponse:
    mapping = get_object_or_404(GroupMapping, pk=mapping_id)
    do_delete_group_mapping(mapping, acting_user=request.user)
    messages.success(request, f"The mapping of group {mapping.group_id} is removed; its members lose what it "
                              "gave them at their next sign-in with Microsoft.")
    return redirect("group_mapping_list")
