"""Before a delete erases an instance's credentials: what the worker needs to remove the webhook the
portal registered in Dataverse (instances/actions.py calls it; kept apart from realtime.py, which
imports the provisioning code that imports the instances' actions)."""

from __future__ import annotations

import functools
import logging

import requests
from django.db import transaction

from setup_portal.azure.client import AzureError
from setup_portal.instances.tokens import acquire_token_for_instance
from setup_portal.outbound import SandboxDisabled

from .models import RealtimeHook

log = logging.getLogger(__name__)


def _send_sync(instance_id: str) -> None:
    from config.celery import app  # by name, as actions.enqueue_delivery does

    app.send_task("events.sync_realtime", args=[instance_id])


def keep_token_for_cleanup(inst) -> None:
    """Keep one access token (encrypted, erased once used) so the worker can still remove the
    instance's webhook and steps after the delete, and queue that removal."""
    hook = RealtimeHook.objects.filter(instance=inst).first()
    if hook is None or not (hook.service_endpoint_id or hook.steps.exists()):
        return
    try:
        token = acquire_token_for_instance(inst).access_token
    except (AzureError, requests.RequestException, SandboxDisabled) as exc:
        log.warning("no token to remove the webhook of instance %s: %s", inst.pk, exc)
        RealtimeHook.objects.filter(pk=hook.pk).update(
            enabled=False, message="The portal could not remove its webhook from Dynamics CRM when the instance "
            "was deleted; remove the service endpoint 'Setup Portal …' there.")
        return
    RealtimeHook.objects.filter(pk=hook.pk).update(cleanup_token=token, enabled=False)
    transaction.on_commit(functools.partial(_send_sync, str(inst.pk)))
