"""Where instances come from: the wizard's last stage ("Create instance") and promotions.

`do_finish_setup` is what stage 8 does, from the page (create_views.py) and from the management
API's provisioning alike: keep the stage's values with the setup, create the instance and start
provisioning it. `do_start_promotion` goes the other way: a new setup for a rehearsed instance's
production twin, with what carries over filled in.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from setup_portal.audit.models import record
from setup_portal.wizard import actions as wizard
from setup_portal.wizard.models import Setup

from .actions import do_create_instance
from .models import Instance, ProvisioningJob

STAGE = "instance"
PROMOTION_SUFFIX = " (production)"
# Promote… is for a rehearsal: a Ready instance whose environment Dataverse did not report as
# Production (a type not reported, as for instances provisioned before the portal recorded it, does
# not stop it; the page says it is unknown). The page's button, its view and the API ask the same.
PRODUCTION_REFUSAL = ("“{name}” is in a production environment (Dataverse reports its type as Production): "
                      "Promote… sets up production from a rehearsal, so there is nothing to promote it to.")


@transaction.atomic
def do_finish_setup(setup: Setup, *, settings: dict, started_at: dt.datetime | None, acting_user) -> ProvisioningJob:
    """Stage 8: record it, then create the instance and its provisioning job from the setup."""
    promoted_from = (setup.instance_settings or {}).get("promoted_from")
    if promoted_from:
        settings = {**settings, "promoted_from": promoted_from}
    wizard.do_complete_last_stage(setup, STAGE, settings=settings, started_at=started_at, acting_user=acting_user)
    job = do_create_instance(
        setup, name=settings["name"], tags=settings["tags"], polling_enabled=settings["polling_enabled"],
        polling_resources=settings["polling_resources"],
        polling_interval_minutes=settings["polling_interval_minutes"], filter_nulls=settings["filter_nulls"],
        acting_user=acting_user,
    )
    if promoted_from:
        _link_promotion(promoted_from, job.instance, acting_user=acting_user)
    return job


def _link_promotion(source_id: str, instance: Instance, *, acting_user) -> None:
    """A promoted setup's instance points at its rehearsal (same team only), and both logs say so."""
    source = Instance.objects.filter(pk=source_id, team_id=instance.team_id).first()
    if source is None or instance.promoted_from_id:
        return
    Instance.objects.filter(pk=instance.pk).update(promoted_from=source)
    instance.promoted_from = source
    record("instance.promoted", source, actor=acting_user, data={"to": str(instance.pk), "name": instance.name})
    record("instance.promoted_from", instance, actor=acting_user, data={"from": str(source.pk), "name": source.name})


@transaction.atomic
def do_start_promotion(instance: Instance, *, acting_user) -> Setup:
    """A new setup for the production twin of a rehearsed instance (sandbox or a test environment).

    What carries over is filled in: the account stage's prerequisites, the authentication type and
    the instance stage's settings (name with a suffix, tags, polling, webhooks' callback and event
    types, filter nulls); the setup starts at the environment stage, so what differs is asked
    again: environment, directory and application, keys, permissions, authorization. The webhook
    signing secret is not carried: the new instance's endpoint makes its own.
    """
    source_setup = instance.setup
    endpoint = getattr(instance, "webhook_endpoint", None)
    setup = wizard.do_create_filled_setup(
        team_id=instance.team_id, source="promotion", acting_user=acting_user,
        fields={"use_sandbox": instance.use_sandbox, "cloud": instance.cloud, "auth_type": instance.auth_type,
                "multi_tenant": source_setup.multi_tenant if source_setup else False,
                "prerequisites": dict(source_setup.prerequisites) if source_setup else {}},
        instance_settings={
            "name": (instance.name + PROMOTION_SUFFIX)[:100], "tags": instance.tag_list,
            "polling_enabled": instance.polling_enabled, "polling_resources": list(instance.polling_resources),
            "polling_interval_minutes": instance.polling_interval_minutes, "filter_nulls": instance.filter_nulls,
            "events_enabled": bool(endpoint and endpoint.enabled), "callback_url": endpoint.url if endpoint else "",
            "lifecycle_types": list(endpoint.lifecycle_types) if endpoint else [],
            "promoted_from": str(instance.pk),
        },
        audit_data={"promoted_from": str(instance.pk)},
    )
    record("instance.promotion_started", instance, actor=acting_user, data={"setup": str(setup.pk)})
    return setup
