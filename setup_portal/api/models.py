"""The instance API's call log and its stored answers to idempotent POSTs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from setup_portal.instances.models import Instance


class ApiCall(models.Model):
    """One call to /api/v1/crm/ by an application with an instance token."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="api_calls")
    created_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=8)
    # "accounts", "accounts/{id}" or "raw": what was called, never the caller's ids or query.
    resource = models.CharField(max_length=40)
    status = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField()
    # Time spent waiting for Dataverse (all tries); null when the call never reached it.
    upstream_ms = models.PositiveIntegerField(null=True, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True, help_text="Dataverse's x-ms-service-request-id")
    # The portal's own request id (X-Request-ID): the same one is in the answer, its log lines and problems.
    portal_request_id = models.CharField(max_length=64, blank=True, default="")
    caller_ip = models.GenericIPAddressField(null=True, blank=True)
    # Bodies (secrets and tokens redacted), only while the instance's trace logging is on.
    trace = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The instance page's panel (last 24 hours, last 50 calls) and the dashboard's count.
            models.Index(fields=["instance", "created_at"], name="apicall_instance_time_idx"),
            # Pruning by age across every instance.
            models.Index(fields=["created_at"], name="apicall_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.resource} {self.status}"


class IdempotentResponse(models.Model):
    """The answer to a POST sent with an Idempotency-Key, replayed when the same POST comes again.

    A row with status 0 is a reservation: the first request with that key is still running.
    """

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path, query and body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["instance", "key"], name="unique_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class RateBucket(models.Model):
    """One instance's token bucket for the rate limit where the shared cache is not Redis (ratelimit.py):
    the GCRA's theoretical arrival time, changed by one atomic INSERT ... ON CONFLICT per call."""

    bucket = models.CharField(max_length=100, primary_key=True)
    arrival = models.FloatField(help_text="Unix time")

    def __str__(self) -> str:
        return self.bucket


class ApiKey(models.Model):
    """A person's key for the management API (`dcp_<prefix>_<secret>`), acting with its owner's roles.

    Only the prefix (to find the row, and to tell keys apart on the pages) and the SHA-256 of the
    whole key are kept; the key itself is shown once, when it is made (keys/actions.py).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    class Meta:
        ordering = ["-created_at", "-id"]
        # The profile page lists one person's keys, newest first.
        indexes = [models.Index(fields=["owner", "created_at"], name="apikey_owner_time_idx")]

    def __str__(self) -> str:
        return f"{self.name} (dcp_{self.prefix}…)"

    def status(self, now=None) -> str:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.Status.EXPIRED
        return self.Status.ACTIVE

    def is_usable(self, now=None) -> bool:
        return self.status(now) == self.Status.ACTIVE
