"""Append-only audit events: who did what to which thing, minus secrets."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from setup_portal.text import storable, storable_json

# Keys whose values never enter an audit row, whatever a caller passes.
SECRET_KEYS = {"client_secret", "password", "secret", "token", "token_cache", "refresh_token",
               "access_token", "id_token", "code", "code_verifier", "new_secret"}


def scrub(data: dict) -> dict:
    clean = {}
    for key, value in data.items():
        if key.lower() in SECRET_KEYS:
            clean[key] = "[redacted]"
        elif isinstance(value, dict):
            clean[key] = scrub(value)
        else:
            clean[key] = value
    return clean


def without_hints(data: dict) -> dict:
    """The data less its secret hints ("old_hint": "••••wXyZ"): admins see them, team leads never do."""
    return {key: value for key, value in data.items() if not key.endswith("_hint")}


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    # Kept as text so the trail survives the actor's deletion; "system" for beat/worker.
    actor_label = models.CharField(max_length=150)
    verb = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=32, db_index=True)
    target_id = models.CharField(max_length=64, db_index=True)
    target_label = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The target's team, for scoping the log (permissions.visible_audit_events); none for users
    # and API keys. No database constraint: the trail outlives a deleted team.
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.DO_NOTHING,
                             db_constraint=False, related_name="+")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.verb} {self.target_type}:{self.target_label or self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")


def _team_of(target) -> int | None:
    if target._meta.label == "teams.Team":
        return target.pk
    return getattr(target, "team_id", None)


def record(verb: str, target, *, actor=None, data: dict | None = None, target_type: str | None = None) -> AuditEvent:
    """Write one audit event. `target` is a model instance (uses its pk and str)."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor.get_username() if actor is not None and actor.is_authenticated else "system",
        verb=verb,
        target_type=target_type or target._meta.model_name,
        target_id=str(target.pk),
        target_label=storable(str(target))[:200],
        team_id=_team_of(target),
        data=storable_json(scrub(data or {})),
    )
