"""Verbs on an instance's webhook endpoint: configure, rotate its signing secret, send a test
event, redeliver. Each is atomic and audited (never with the secret)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.db import transaction
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.outbound import SandboxDisabled, outbound_session
from setup_portal.sandbox.info import sandbox_info

from . import delivery as delivery_mod
from .actions import emit_event
from .models import Delivery, Event, WebhookEndpoint, new_webhook_secret

log = logging.getLogger(__name__)
ROTATION_OVERLAP = dt.timedelta(hours=24)
TEST_EVENT = "webhook.test"


def endpoint_of(instance) -> WebhookEndpoint:
    endpoint, _ = WebhookEndpoint.objects.get_or_create(instance=instance)
    return endpoint


def forget_endpoint(instance) -> bool:
    """Delete the instance's endpoint, with its signing secrets and its deliveries (a deleted
    instance sends nothing more); whether it had one. The caller audits it."""
    deleted, _ = WebhookEndpoint.objects.filter(instance=instance).delete()
    return bool(deleted)


@transaction.atomic
def do_update_endpoint(instance, *, enabled: bool, url: str, lifecycle_types: list[str],
                       acting_user) -> WebhookEndpoint:
    """Turn events on or off, set the callback URL and the lifecycle types. Turning them on
    again clears an automatic disablement and its failure clock."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_of(instance).pk)
    before = {"enabled": endpoint.enabled, "url": endpoint.url, "lifecycle_types": list(endpoint.lifecycle_types)}
    endpoint.enabled, endpoint.url, endpoint.lifecycle_types = enabled, url, list(lifecycle_types)
    if enabled:
        endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
    endpoint.save()
    after = {"enabled": enabled, "url": url, "lifecycle_types": list(lifecycle_types)}
    changes = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if changes:
        record("webhooks.updated", instance, actor=acting_user, data=changes)
    transaction.on_commit(lambda: configure_sandbox_bin(endpoint.pk))
    return endpoint


@transaction.atomic
def do_rotate_webhook_secret(instance, *, acting_user) -> WebhookEndpoint:
    """A new signing secret; the old one keeps signing too (a second signature) for 24 hours."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_of(instance).pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["previous_secret", "previous_secret_until", "secret", "updated_at"])
    record("webhooks.secret_rotated", instance, actor=acting_user,
           data={"previous_valid_until": endpoint.previous_secret_until.isoformat()})
    transaction.on_commit(lambda: configure_sandbox_bin(endpoint.pk))
    return endpoint


@transaction.atomic
def do_send_test_event(instance, *, acting_user) -> Event | None:
    event = emit_event(instance, TEST_EVENT, {"instance": {"id": str(instance.pk), "name": instance.name},
                                              "message": "A test event sent from the delivery log."},
                       dedupe_key=f"{TEST_EVENT}:{secrets.token_hex(8)}")
    record("webhooks.test_sent", instance, actor=acting_user, data={"event": event.pk if event else ""})
    return event


@transaction.atomic
def do_redeliver(delivery: Delivery, *, acting_user) -> None:
    delivery_mod.redeliver(delivery)
    record("webhooks.redelivered", delivery.event.instance, actor=acting_user,
           data={"event": delivery.event_id, "type": delivery.event.type, "delivery": delivery.pk})


def new_sandbox_bin_url() -> str:
    """A fresh bin of the sandbox's webhook inspector, for "Use the sandbox tenant"."""
    return f"{sandbox_info()['backchannel_base']}/_sandbox/webhooks/{secrets.token_urlsafe(9)}"


def sandbox_bin_path(url: str) -> str | None:
    """The bin's config path when the URL is a bin of this portal's sandbox, else None."""
    try:
        info = sandbox_info()
    except Exception:  # noqa: BLE001 — no sandbox configured: not a bin
        return None
    for base in (info["backchannel_base"], info["browser_base"]):
        prefix = f"{base}/_sandbox/webhooks/"
        if url.startswith(prefix) and "/" not in url[len(prefix):] and url[len(prefix):]:
            return url[len(prefix):]
    return None


def sandbox_bin_page(url: str) -> str | None:
    """The inspector's page of a sandbox bin, on the sandbox's http listener: the bin's URL itself
    is the https back channel, whose self-signed certificate a browser refuses."""
    name = sandbox_bin_path(url)
    return f"{sandbox_info()['browser_base']}/_sandbox/webhooks/{name}" if name else None


def configure_sandbox_bin(endpoint_id: int) -> bool:
    """Give a sandbox bin the secrets it verifies with (the sandbox stands in for the customer's
    receiver, who knows them). Only for bins of the sandbox, only while it is enabled."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    name = sandbox_bin_path(endpoint.url) if endpoint and endpoint.url else None
    if name is None:
        return False
    now = timezone.now()
    keys = [str(endpoint.secret)]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        keys.append(str(endpoint.previous_secret))
    try:
        session = outbound_session(use_sandbox=True)
        session.post(f"{sandbox_info()['backchannel_base']}/_sandbox/webhooks/{name}/config",
                     json={"secrets": keys}, timeout=5)
    except (SandboxDisabled, OSError) as exc:
        log.warning("Could not configure sandbox webhook bin %s: %s", name, type(exc).__name__)
        return False
    return True
