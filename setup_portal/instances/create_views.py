"""Stage 8 of the wizard, "Create instance", and "Promote…": the pages where instances come from.

The wizard's catalogue of stages gets stage 8 from here when the app loads (apps.py): the wizard
serves its URL (/setup/<id>/instance/) and hands the page to `create_instance`, so the wizard
never imports the instances app. The promote view keeps its URL name, wizard:promote
(config/urls.py adds it to the wizard's URLs).
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from setup_portal.events.forms import with_sandbox_bin
from setup_portal.events.secret_reveal import set_up_webhooks
from setup_portal.teams import permissions
from setup_portal.teams.roles import admin_required
from setup_portal.wizard.models import Setup
from setup_portal.wizard.pages import forget_started, render_stage, started_at
from setup_portal.wizard.stages import STAGES, Progress, Stage

from .access import instance_for
from .creation import PRODUCTION_REFUSAL, STAGE, do_finish_setup, do_start_promotion
from .forms import InstanceForm


def create_instance(request: HttpRequest, setup: Setup, stage: str, progress: Progress) -> HttpResponse:
    started = started_at(request, setup, stage, remember=request.method == "GET")
    if request.method == "POST" and "use_sandbox_bin" in request.POST and setup.use_sandbox:
        # "Use the sandbox tenant" for webhooks: the form again, as typed, aimed at a fresh bin.
        form = InstanceForm(None, setup=setup)
        form.initial.update(with_sandbox_bin(form, request.POST))
        return render_stage(request, setup, stage, progress, True, {"form": form})
    form = InstanceForm(request.POST if request.method == "POST" else None, setup=setup)
    if request.method == "POST" and form.is_valid():
        try:
            # One transaction: the webhook endpoint exists before provisioning (and instance.ready) starts.
            with transaction.atomic():
                job = do_finish_setup(setup, settings=form.settings(), started_at=started, acting_user=request.user)
                if form.cleaned_data["events_enabled"]:
                    set_up_webhooks(request, job.instance, form.endpoint_settings())
        except IntegrityError:  # another admin took the name between the check and the insert
            form.add_error("name", "An instance with this name was just created. Pick another name.")
        else:
            forget_started(request, setup, stage)
            return redirect("instances:progress", instance_id=job.instance_id)
    status = 400 if request.method == "POST" else 200
    return render_stage(request, setup, stage, progress, True, {"form": form}, status=status)


def register_stage() -> None:
    """Add stage 8 to the wizard's catalogue, after its own seven."""
    STAGES.register(Stage(STAGE, "Create instance", create_instance, form=InstanceForm), after="authorize")


@require_POST
@admin_required
def promote(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    """"Promote…" on a Ready instance: a new setup for production with what carries over filled in."""
    instance = instance_for(request.user, instance_id, permissions.can_change_instance)
    if instance.status != "ready":
        messages.error(request, "Only a Ready instance can be promoted: finish or fix its rehearsal first.")
        return redirect(f"/instances/{instance.pk}/")
    if instance.is_production:
        messages.error(request, PRODUCTION_REFUSAL.format(name=instance.name))
        return redirect(f"/instances/{instance.pk}/")
    setup = do_start_promotion(instance, acting_user=request.user)
    messages.success(request, f"Promoting “{instance.name}”: its settings are filled in. Pick the production "
                              "environment (Find my environments lists them), then its directory, app, keys, "
                              "permissions and sign-in.")
    return redirect("wizard:stage", setup_id=setup.pk, stage="environment")
