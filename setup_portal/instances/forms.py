"""The admin's edit form for an instance: the settings the wizard's last stage set, and trace logging."""

from __future__ import annotations

from typing import Any

from django import forms

from setup_portal.events import tables as polled_tables
from setup_portal.wizard.forms import InstanceForm, check_polling, clean_instance_name, clean_instance_tags

from .models import Instance

SETTINGS = ("name", "tags", "polling_enabled", "polling_resources", "polling_interval_minutes", "filter_nulls")


class EditInstanceForm(forms.Form):
    # The same fields, limits and messages as when the instance was created.
    name = InstanceForm.base_fields["name"]
    tags = InstanceForm.base_fields["tags"]
    polling_enabled = InstanceForm.base_fields["polling_enabled"]
    polling_resources = InstanceForm.base_fields["polling_resources"]
    polling_interval_minutes = InstanceForm.base_fields["polling_interval_minutes"]
    filter_nulls = InstanceForm.base_fields["filter_nulls"]
    trace_logging = forms.BooleanField(
        label="Trace logging", required=False,
        help_text="Keeps request and response bodies of API calls in the call log (secrets and tokens "
                  "redacted) for 24 hours, then switches itself off.")

    def __init__(self, data=None, *, instance: Instance):
        initial = {name: getattr(instance, name) for name in SETTINGS}
        initial["tags"] = ", ".join(instance.tag_list)
        initial["trace_logging"] = instance.trace_logging_on()
        super().__init__(data, initial=initial)
        self.instance = instance
        # Every change-tracked table of the environment's metadata, not only the wizard's seven.
        self.fields["polling_resources"].choices = polled_tables.choices(instance, keep=instance.polling_resources)

    def clean_name(self) -> str:
        return clean_instance_name(self.cleaned_data["name"], team_id=self.instance.team_id, excluding=self.instance.pk)

    def clean_tags(self) -> list[str]:
        return clean_instance_tags(self.cleaned_data["tags"])

    def clean(self):
        return check_polling(self, super().clean())

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for do_update_instance; polling's options are kept as they are while it is off."""
        data = self.cleaned_data
        changes = {name: data[name] for name in ("name", "tags", "polling_enabled", "filter_nulls", "trace_logging")}
        if data["polling_enabled"]:
            changes.update(polling_resources=data["polling_resources"],
                           polling_interval_minutes=data["polling_interval_minutes"])
        return changes
