"""Events: what happened to an instance (Dataverse changes it polled, lifecycle changes), the
webhook endpoint they go to, each delivery and its attempts, poll progress, and notifications."""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from setup_portal.crypto import EncryptedTextField


class LifecycleType(models.TextChoices):
    """Every lifecycle event type (what happened to an instance), in the order the settings form lists
    them, with its label; every other list of them is derived from this one."""

    READY = "instance.ready", "Ready (provisioned)"
    FAILED = "instance.failed", "Provisioning failed"
    NEEDS_REAUTH = "instance.needs_reauth", "Needs re-authentication"
    HEALTH_FAILING = "instance.health_failing", "Health check failing"
    HEALTH_RECOVERED = "instance.health_recovered", "Health recovered"
    SECRET_EXPIRING = "instance.secret_expiring", "Client secret expiring (30/7/1 days)"
    DISABLED = "instance.disabled", "Disabled"
    ENABLED = "instance.enabled", "Enabled"
    DELETED = "instance.deleted", "Deleted"
    REVIEW_CHANGED = "instance.review_changed", "Review changed"


# Crockford base32: sortable, no ambiguous letters; 26 characters like a ULID.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id() -> str:
    """'msg_' + 26 characters: 10 of millisecond time (so ids sort by creation) and 16 random."""
    import time

    ms = int(time.time() * 1000)
    head = ""
    for _ in range(10):
        head = _ALPHABET[ms % 32] + head
        ms //= 32
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"msg_{head}{tail}"


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: 'whsec_' + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def default_lifecycle_types() -> list[str]:
    return list(LifecycleType.values)


class WebhookEndpoint(models.Model):
    instance = models.OneToOneField("instances.Instance", on_delete=models.CASCADE, related_name="webhook_endpoint")
    enabled = models.BooleanField(default=False)
    url = models.URLField(max_length=2000, blank=True)
    secret = EncryptedTextField(blank=True, default=new_webhook_secret)
    # During a rotation both signatures are sent until previous_secret_until.
    previous_secret = EncryptedTextField(blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    lifecycle_types = models.JSONField(default=default_lifecycle_types, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Webhook endpoint of {self.instance_id}"

    def wants(self, event_type: str) -> bool:
        """Whether an event of this type goes to this endpoint: every change event, and the
        lifecycle types the owner selected."""
        if event_type.startswith("instance."):
            return event_type in (self.lifecycle_types or [])
        return True


class Event(models.Model):
    # The webhook-id: stable across retries and redeliveries, so receivers can de-duplicate.
    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=120, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    # "accounts:<guid>" for change events: deliveries of one record go out in sequence order.
    record_key = models.CharField(max_length=200, blank=True, db_index=True)
    sequence = models.BigIntegerField()
    dedupe_key = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["instance", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "dedupe_key"], name="event_dedupe_uniq"),
            models.UniqueConstraint(fields=["instance", "sequence"], name="event_sequence_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class EventCounter(models.Model):
    """The last sequence number handed out per instance; its row lock serialises emit_event."""

    instance = models.OneToOneField("instances.Instance", on_delete=models.CASCADE, primary_key=True,
                                    related_name="event_counter")
    last_sequence = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Event counter of {self.instance_id}: {self.last_sequence}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (will retry)"
        GAVE_UP = "gave_up", "Gave up"
        SKIPPED = "skipped", "Skipped"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_event_endpoint_uniq"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"Delivery {self.pk} of {self.event_id}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)  # capped at 1 kB by the writer
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Attempt {self.pk} of delivery {self.delivery_id}"


class PollState(models.Model):
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="poll_states")
    table = models.CharField(max_length=100)
    delta_link = models.TextField(blank=True)
    # For tables without change tracking: the newest modifiedon seen (polled again with overlap).
    watermark = models.DateTimeField(null=True, blank=True)
    baseline_at = models.DateTimeField(null=True, blank=True)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    changes_found = models.PositiveIntegerField(default=0)
    total_changes = models.PositiveBigIntegerField(default=0)
    last_error_code = models.CharField(max_length=32, blank=True)
    last_error_detail = models.TextField(blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # "delta" (change tracking) or "watermark" (modifiedon fallback), as the last poll used it.
    mode = models.CharField(max_length=16, blank=True)
    # When the current delta link starts (Dataverse's time in its token): a row created after it is "created".
    delta_since = models.DateTimeField(null=True, blank=True)
    # Watermark mode: the highest row version at the baseline; rows no newer existed before it.
    baseline_version = models.BigIntegerField(null=True, blank=True)
    # The last time an expired delta token made the poll start afresh (changes in between were not sent).
    rebaselined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["instance", "table"]
        constraints = [models.UniqueConstraint(fields=["instance", "table"], name="pollstate_instance_table_uniq")]

    def __str__(self) -> str:
        return f"Poll state {self.instance_id}/{self.table}"


# What each kind of notification is called where people pick one (the notifications page, digests).
NOTIFICATION_KINDS = {
    "needs_reauth": "Needs re-authentication",
    "health_failing": "Health check failing",
    "webhook_disabled": "Webhooks turned off",
    "review_waiting": "Waiting for review",
    "changes_requested": "Changes requested",
}


class Notification(models.Model):
    """One bell entry: what happened to one instance, of one kind, for one person.

    A repeat folds into the entry (count, latest message and time) instead of adding a row, and
    makes it unread again; reading it starts the count afresh. `unmailed` counts repeats not
    e-mailed yet: the hourly digest's (events/notifications.py).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    instance = models.ForeignKey("instances.Instance", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="notifications")
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    link = models.CharField(max_length=500, blank=True)
    # More of the latest occurrence for its e-mail (what an edit changed, a reviewer's comment).
    detail = models.TextField(blank=True)
    count = models.PositiveIntegerField(default=1)
    unmailed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    latest_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-latest_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "instance", "kind"], name="notification_entry_uniq")]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_unread_idx"),
            # The digest beat looks only for entries still to e-mail: a handful among many.
            models.Index(fields=["user", "kind"], condition=models.Q(unmailed__gt=0),
                         name="notification_unmailed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"

    @property
    def kind_label(self) -> str:
        return NOTIFICATION_KINDS.get(self.kind, self.kind)


class NotificationMail(models.Model):
    """When a person was last e-mailed about one kind of notification: at most one e-mail an hour."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_mail_uniq")]

    def __str__(self) -> str:
        return f"{self.kind} mail for {self.user_id}"


class InstanceMute(models.Model):
    """A person who hears nothing about an instance (no bell entry, no e-mail) until they unmute it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    instance = models.ForeignKey("instances.Instance", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "instance"], name="instance_mute_uniq")]

    def __str__(self) -> str:
        return f"{self.instance_id} muted by {self.user_id}"


def new_hook_key() -> str:
    """The key Dataverse sends in an HTTP header with each push to the portal's webhook."""
    return secrets.token_urlsafe(32)


class RealtimeHook(models.Model):
    """Real-time mode of an instance: the webhook the portal registered in its Dataverse
    environment (one service endpoint; a step per watched table and message, RealtimeStep) and
    what Dataverse has pushed to it. Polling goes on beside it, less often, as reconciliation."""

    class State(models.TextChoices):
        OFF = "off", "Off"
        REGISTERING = "registering", "Registering"
        ACTIVE = "active", "Active"
        REFUSED = "refused", "Refused by Dynamics CRM"
        FAILED = "failed", "Registration failed"

    instance = models.OneToOneField("instances.Instance", on_delete=models.CASCADE, related_name="realtime_hook")
    enabled = models.BooleanField(default=False)  # what the admin chose; `state` says what holds
    key = EncryptedTextField(default=new_hook_key)
    # During a rotation the previous key is accepted until the endpoint holds the new one.
    previous_key = EncryptedTextField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OFF)
    message = models.TextField(blank=True)
    service_endpoint_id = models.CharField(max_length=64, blank=True)
    # An access token taken before a delete erases the instance's credentials, for unregistering only.
    cleanup_token = EncryptedTextField(blank=True)
    last_push_at = models.DateTimeField(null=True, blank=True)
    pushes = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Real-time hook of {self.instance_id}: {self.state}"


class RealtimeStep(models.Model):
    """One step the portal registered: a message (Create, Update, Delete) on a table (entity set)."""

    hook = models.ForeignKey(RealtimeHook, on_delete=models.CASCADE, related_name="steps")
    table = models.CharField(max_length=100)
    logical_name = models.CharField(max_length=100)  # the table's, as Dataverse's pushes name it
    message = models.CharField(max_length=16)
    step_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["table", "message"]
        constraints = [models.UniqueConstraint(fields=["hook", "table", "message"], name="realtime_step_uniq")]

    def __str__(self) -> str:
        return f"{self.message} of {self.table} ({self.step_id})"
