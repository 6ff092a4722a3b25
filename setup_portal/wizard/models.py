"""A setup is an admin's draft of one Dynamics CRM endpoint, filled stage by stage."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from setup_portal.azure.certificates import CredentialKind
from setup_portal.azure.clouds import AuthType, Cloud
from setup_portal.crypto import EncryptedTextField
from setup_portal.teams.models import default_team_id
from setup_portal.text import storable_json


class Setup(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        COMPLETED = "completed", "Completed"
        DISCARDED = "discarded", "Discarded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="setups")
    # The team whose admins may continue it and whose members see it; its instance gets the same team.
    # Saved without one (code that predates teams), a setup lands in the Default team.
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="setups")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    current_stage = models.CharField(max_length=32, default="account")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    use_sandbox = models.BooleanField(default=False)
    prerequisites = models.JSONField(default=dict, blank=True)

    # Stage 2: environment
    dynamics_url = models.CharField(max_length=255, blank=True)
    region = models.CharField(max_length=64, blank=True)
    cloud = models.CharField(max_length=16, choices=Cloud.choices, default=Cloud.PUBLIC)
    tenant = models.CharField(max_length=255, blank=True, help_text="Directory (tenant) GUID or verified domain")

    # Stage 3: application
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.OAUTH2)
    multi_tenant = models.BooleanField(default=False)

    # Stage 4: keys and client ID (or user name and password for custom auth)
    client_id = models.CharField(max_length=36, blank=True)
    client_secret = EncryptedTextField(blank=True)
    secret_hint = models.CharField(max_length=16, blank=True)
    secret_expires_on = models.DateField(null=True, blank=True)
    # A certificate instead of the secret: the public certificate, its private key (encrypted) and
    # the SHA-1 thumbprint Entra lists it by. Its expiry lives in secret_expires_on, like a secret's.
    credential_kind = models.CharField(max_length=16, choices=CredentialKind.choices, default=CredentialKind.SECRET)
    certificate_pem = models.TextField(blank=True)
    certificate_key = EncryptedTextField(blank=True)
    certificate_thumbprint = models.CharField(max_length=40, blank=True)
    username = models.CharField(max_length=254, blank=True)
    password = EncryptedTextField(blank=True)
    password_hint = models.CharField(max_length=16, blank=True)

    # Stage 5: permissions
    permissions_confirmed = models.BooleanField(default=False)

    # Stage 7: authorization (the msal token cache lives on azure.Authorization)
    authorized_at = models.DateTimeField(null=True, blank=True)

    # Stage 8: instance settings entered before creation
    instance_settings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.dynamics_url or f"Setup {str(self.id)[:8]}"

    def save(self, *args, **kwargs):
        if self.team_id is None:
            self.team_id = default_team_id()
        super().save(*args, **kwargs)


class StageRecord(models.Model):
    """One completed (or attempted) stage: who, when, how long, what (never secrets)."""

    setup = models.ForeignKey(Setup, on_delete=models.CASCADE, related_name="stage_records")
    stage = models.CharField(max_length=32)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    values = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    valid = models.BooleanField(default=True)
    messages = models.JSONField(default=list, blank=True)
    # Set when an earlier stage changed in a way that voids this one.
    invalidated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["completed_at", "id"]

    def __str__(self) -> str:
        return f"{self.stage} of {self.setup_id}"

    def save(self, *args, **kwargs):
        # A refused attempt records what was typed, NUL bytes included, which jsonb would refuse.
        self.values = storable_json(self.values)
        self.messages = storable_json(self.messages)
        super().save(*args, **kwargs)
