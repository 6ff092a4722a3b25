"""An instance's change polling and real-time mode as its pages and the management API change them.

Which instances are polled (`pollable`), which tables Dataverse pushes, and the verbs that turn
real-time mode on or off, poll now and rotate the webhook's key. The work itself is done by the
polling part's workers (setup_portal/polling/), queued here by task name: polling sits above the
instances, which only say what they want. Before a delete erases an instance's credentials,
`keep_token_for_cleanup` keeps what the worker needs to remove the webhook the portal registered.
"""

from __future__ import annotations

import functools
import logging

import requests
from celery import current_app
from django.db import transaction
from django.db.models import Q

from setup_portal.audit.models import record
from setup_portal.azure.client import AzureError
from setup_portal.events.models import RealtimeHook, new_hook_key
from setup_portal.outbound import SandboxDisabled

from .models import Instance
from .tokens import acquire_token_for_instance

log = logging.getLogger(__name__)
# The messages a watched table gets a step for (polling/realtime.py registers them).
MESSAGES = ("Create", "Update", "Delete")
# The polling part's tasks (setup_portal/polling/), sent by name.
POLL_TASK = "events.poll_instance"
SYNC_TASK = "events.sync_realtime"
PUSH_KEY_TASK = "events.push_hook_key"


def _send(task: str, instance_id) -> None:
    current_app.send_task(task, args=[str(instance_id)])


def pollable() -> Q:
    # Seeded instances (seed_instances) have made-up Dynamics URLs: nothing to poll.
    return Q(status=Instance.Status.READY, polling_enabled=True, seeded=False)


def realtime_tables(inst: Instance) -> set[str]:
    """Tables whose changes Dataverse pushes (every message registered): polled only to reconcile."""
    hook = RealtimeHook.objects.filter(instance=inst, state=RealtimeHook.State.ACTIVE).first()
    if hook is None:
        return set()
    counts: dict[str, int] = {}
    for table in hook.steps.values_list("table", flat=True):
        counts[table] = counts.get(table, 0) + 1
    return {table for table, n in counts.items() if n == len(MESSAGES)}


def enqueue_sync(instance_id) -> None:
    transaction.on_commit(functools.partial(_send, SYNC_TASK, instance_id))


@transaction.atomic
def do_set_realtime(inst: Instance, enabled: bool, *, acting_user) -> RealtimeHook:
    """Turn real-time mode on or off for the instance; the registration follows in the worker."""
    hook, _ = RealtimeHook.objects.select_for_update().get_or_create(instance=inst)
    if hook.enabled != enabled:
        hook.enabled = enabled
        hook.save(update_fields=["enabled", "updated_at"])
        record("instance.realtime_on" if enabled else "instance.realtime_off", inst, actor=acting_user)
    enqueue_sync(inst.pk)
    return hook


def do_poll_now(inst: Instance, *, acting_user) -> bool:
    """Queue a poll of every watched table now. False when the instance is not polled at all."""
    if not Instance.objects.filter(pollable(), pk=inst.pk).exists():
        return False
    record("instance.polled_now", inst, actor=acting_user)
    transaction.on_commit(functools.partial(_send, POLL_TASK, inst.pk))
    return True


@transaction.atomic
def do_rotate_hook_key(inst: Instance, *, acting_user) -> bool:
    """A new key for the instance's webhook: pushes with the previous one are accepted until the
    endpoint in Dataverse holds the new one (the worker updates it). False without a webhook."""
    hook = RealtimeHook.objects.select_for_update().filter(instance=inst).first()
    if hook is None:
        return False
    hook.previous_key, hook.key = hook.key, new_hook_key()
    hook.save(update_fields=["previous_key", "key", "updated_at"])
    record("instance.realtime_key_rotated", inst, actor=acting_user)
    transaction.on_commit(functools.partial(_send, PUSH_KEY_TASK, inst.pk))
    return True


def keep_token_for_cleanup(inst: Instance) -> None:
    """Keep one access token (encrypted, erased once used) so the worker can still remove the
    instance's webhook and steps after the delete, and queue that removal (instances/actions.py's delete)."""
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
    transaction.on_commit(functools.partial(_send, SYNC_TASK, inst.pk))
