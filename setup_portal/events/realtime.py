"""Real-time mode: the portal registers its own webhook in the instance's Dataverse environment,
so Dataverse pushes each change within seconds; polling goes on as the reconciliation.

`sync_realtime` makes the environment hold what the instance wants, and nothing else: while the
instance is Ready, polling and real-time are on, one service endpoint (contract Webhook, the
instance's random key in an HTTP header) and a Create, Update and Delete step for each watched
table; otherwise none. What was registered is recorded (RealtimeHook, RealtimeStep) so it can be
removed. A registration Dynamics CRM refuses (the application user lacks the privilege) leaves the
instance polling as before and says so in plain words.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from setup_portal.audit.models import record
from setup_portal.azure.client import AzureError
from setup_portal.dataverse import plugins as dataverse_plugins
from setup_portal.dataverse.client import DataverseError
from setup_portal.instances.models import Instance
from setup_portal.instances.provisioning import StepFailed, checked_url
from setup_portal.instances.tokens import acquire_token_for_instance
from setup_portal.outbound import SandboxDisabled

from . import tables as polled_tables
from .models import RealtimeHook, RealtimeStep, new_hook_key
from .polling import _ENTITY_SETS, _tables, pollable

log = logging.getLogger(__name__)
MESSAGES = ("Create", "Update", "Delete")
REFUSED = ("Dynamics CRM refused to register the portal's webhook: the application user of this instance lacks "
           "the privilege (a System Customizer or System Administrator role registers webhooks). Changes are "
           "polled as before.")


def hook_url(inst: Instance) -> str:
    return settings.PORTAL_BASE_URL + reverse("events_hooks:dataverse", args=[inst.pk])


def wanted_tables(inst: Instance, hook: RealtimeHook) -> list[str]:
    """The polled tables that should have steps now (friendly ones by entity set, others by logical
    name, as PollState names them): none unless the instance is Ready and polling and real-time are on."""
    live = inst.status == Instance.Status.READY and inst.polling_enabled and hook.enabled and not inst.seeded
    return _tables(inst) if live else []


def realtime_tables(inst: Instance) -> set[str]:
    """Tables whose changes Dataverse pushes (every message registered): polled only to reconcile."""
    hook = RealtimeHook.objects.filter(instance=inst, state=RealtimeHook.State.ACTIVE).first()
    if hook is None:
        return set()
    counts: dict[str, int] = {}
    for table in hook.steps.values_list("table", flat=True):
        counts[table] = counts.get(table, 0) + 1
    return {table for table, n in counts.items() if n == len(MESSAGES)}


def _record(hook: RealtimeHook, state: str, message: str = "") -> None:
    RealtimeHook.objects.filter(pk=hook.pk).update(state=state, message=message[:2000])


def sync_realtime(instance_id) -> str:
    """Register or remove the instance's webhook and steps to match its settings. Returns the state."""
    inst = Instance.objects.filter(pk=instance_id).first()
    hook = RealtimeHook.objects.filter(instance_id=instance_id).first()
    if inst is None or hook is None:
        return "gone"
    tables = wanted_tables(inst, hook)
    registered = hook.service_endpoint_id or hook.steps.exists()
    if not tables and not registered:
        _record(hook, RealtimeHook.State.OFF)
        return RealtimeHook.State.OFF
    try:
        base, token = _connection(inst, hook)
        if tables:
            _register(inst, hook, base, token, tables)
        else:
            _unregister(hook, base, token)
    except DataverseError as exc:
        if exc.status == 403:
            _record(hook, RealtimeHook.State.REFUSED, f"{REFUSED} Dynamics CRM said: {exc.message}")
            return RealtimeHook.State.REFUSED
        _record(hook, RealtimeHook.State.FAILED, "The portal could not register its webhook in Dynamics CRM, so "
                f"changes are polled as before. Dynamics CRM said: {exc.message or exc.code}")
        return RealtimeHook.State.FAILED
    except (AzureError, StepFailed, requests.RequestException, SandboxDisabled) as exc:
        _record(hook, RealtimeHook.State.FAILED, "The portal could not reach Dynamics CRM to register or remove its "
                f"webhook, so changes are polled as before. ({str(exc)[:300]})")
        return RealtimeHook.State.FAILED
    return RealtimeHook.objects.get(pk=hook.pk).state


def _connection(inst: Instance, hook: RealtimeHook) -> tuple[str, str]:
    if hook.cleanup_token:  # the instance was deleted: its credentials are gone, this token is all there is
        return inst.dynamics_url.rstrip("/"), hook.cleanup_token
    return checked_url(inst).rstrip("/"), acquire_token_for_instance(inst).access_token


def _register(inst: Instance, hook: RealtimeHook, base: str, token: str, tables: list[str]) -> None:
    _record(hook, RealtimeHook.State.REGISTERING)
    if not hook.service_endpoint_id:
        endpoint = dataverse_plugins.create_webhook(base, token, name=f"Setup Portal {inst.name}"[:256],
                                                    url=hook_url(inst), key=hook.key)
        RealtimeHook.objects.filter(pk=hook.pk).update(service_endpoint_id=endpoint)
        hook.service_endpoint_id = endpoint
    for step in hook.steps.exclude(table__in=tables):
        dataverse_plugins.delete_step(base, token, step.step_id)
        step.delete()
    have = set(hook.steps.values_list("table", "message"))
    for table in tables:
        logical = None
        for message in MESSAGES:
            if (table, message) in have:
                continue
            logical = logical or _logical_name(inst, base, token, table)
            if logical is None:
                break
            step_id = dataverse_plugins.create_step(base, token, endpoint_id=hook.service_endpoint_id,
                                                    message=message, table=logical,
                                                    name=f"Setup Portal: {message} of {logical}")
            RealtimeStep.objects.create(hook=hook, table=table, logical_name=logical, message=message,
                                        step_id=step_id)
    _record(hook, RealtimeHook.State.ACTIVE)


def _logical_name(inst: Instance, base: str, token: str, table: str) -> str | None:
    """The logical name a polled table's steps are registered under (sdkmessagefilters name tables so):
    a friendly resource's by its entity set, any other table as polling resolves it (tables.py)."""
    if table in _ENTITY_SETS:
        return dataverse_plugins.logical_name(base, token, table)
    resource = polled_tables.resource(inst, table, base=base, token=token)
    return resource.name if resource is not None else None


def _unregister(hook: RealtimeHook, base: str, token: str) -> None:
    for step in hook.steps.all():
        dataverse_plugins.delete_step(base, token, step.step_id)
        step.delete()
    if hook.service_endpoint_id:
        dataverse_plugins.delete_webhook(base, token, hook.service_endpoint_id)
    RealtimeHook.objects.filter(pk=hook.pk).update(service_endpoint_id="", cleanup_token="",
                                                   state=RealtimeHook.State.OFF, message="")


# --- what the pages and actions call ---------------------------------------------------------------
SYNC_TASK = "events.sync_realtime"


def enqueue_sync(instance_id) -> None:
    from config.celery import app

    transaction.on_commit(lambda: app.send_task(SYNC_TASK, args=[str(instance_id)]))


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
    from config.celery import app

    transaction.on_commit(lambda: app.send_task("events.poll_instance", args=[str(inst.pk)]))
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
    from config.celery import app

    transaction.on_commit(lambda: app.send_task("events.push_hook_key", args=[str(inst.pk)]))
    return True


def push_hook_key(instance_id) -> str:
    hook = RealtimeHook.objects.filter(instance_id=instance_id).select_related("instance").first()
    if hook is None or not hook.service_endpoint_id:
        return "none"
    inst = hook.instance
    dataverse_plugins.set_webhook_key(checked_url(inst).rstrip("/"), acquire_token_for_instance(inst).access_token,
                                      hook.service_endpoint_id, hook.key)
    RealtimeHook.objects.filter(pk=hook.pk).update(previous_key="")
    return "rotated"
