"""Real-time mode: the portal registers its own webhook in the instance's Dataverse environment,
so Dataverse pushes each change within seconds; polling goes on as the reconciliation.

`sync_realtime` makes the environment hold what the instance wants, and nothing else: while the
instance is Ready, polling and real-time are on, one service endpoint (contract Webhook, the
instance's random key in an HTTP header) and a Create, Update and Delete step for each watched
table; otherwise none. What was registered is recorded (RealtimeHook, RealtimeStep) so it can be
removed. A registration Dynamics CRM refuses (the application user lacks the privilege) leaves the
instance polling as before and says so in plain words. The pages' verbs (turn it on or off, rotate
the key) are instances/polling_settings.py's; they queue this module's work by task name.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.urls import reverse

from setup_portal.azure.client import AzureError
from setup_portal.dataverse import plugins as dataverse_plugins
from setup_portal.dataverse.client import DataverseError
from setup_portal.events.models import RealtimeHook, RealtimeStep
from setup_portal.instances import polled_tables
from setup_portal.instances.models import Instance
from setup_portal.instances.polling_settings import MESSAGES
from setup_portal.instances.provisioning import StepFailed, checked_url
from setup_portal.instances.tokens import acquire_token_for_instance
from setup_portal.outbound import SandboxDisabled

from .poller import _ENTITY_SETS, _tables

log = logging.getLogger(__name__)
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
    a friendly resource's by its entity set, any other table as polling resolves it (instances/polled_tables.py)."""
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


def push_hook_key(instance_id) -> str:
    hook = RealtimeHook.objects.filter(instance_id=instance_id).select_related("instance").first()
    if hook is None or not hook.service_endpoint_id:
        return "none"
    inst = hook.instance
    dataverse_plugins.set_webhook_key(checked_url(inst).rstrip("/"), acquire_token_for_instance(inst).access_token,
                                      hook.service_endpoint_id, hook.key)
    RealtimeHook.objects.filter(pk=hook.pk).update(previous_key="")
    return "rotated"
