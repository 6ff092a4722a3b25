"""The stored copy of each instance's environment metadata (stored.py reads and writes it)."""

from __future__ import annotations

from django.db import models


class EnvironmentMetadata(models.Model):
    """The tables and columns of an instance's environment, as last read from its metadata
    (metadata.py's JSON; setup_portal/crm/tables.py reads it). Stored so no call fetches it; read
    again by the instance API's `POST objects/refresh`, when a request names a table or field it
    does not know (at most once a minute: `checked_at`), or by event polling when none is stored.

    The instance is named by app label, not imported: the table lives below the instances app
    (it moved here from the api app and kept its table name)."""

    instance = models.OneToOneField("instances.Instance", on_delete=models.CASCADE, primary_key=True,
                                    related_name="environment_metadata")
    definitions = models.JSONField()
    fetched_at = models.DateTimeField()
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_environmentmetadata"

    def __str__(self) -> str:
        return f"metadata of instance {self.instance_id} ({self.fetched_at:%Y-%m-%d %H:%M})"
