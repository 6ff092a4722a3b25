"""The instance's settings: stage 8 of the wizard ("Create instance", InstanceForm), the checks its
fields share, and the admin's edit form (the same settings, and trace logging)."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from setup_portal.crm.resources import FRIENDLY_CHOICES
from setup_portal.events.forms import EndpointFields
from setup_portal.events.models import LifecycleType
from setup_portal.forms import plain_text
from setup_portal.wizard.forms import StageForm
from setup_portal.wizard.models import Setup

from . import polled_tables
from .models import Instance


def normalize_tags(raw: str) -> list[str]:
    tags: list[str] = []
    for part in raw.split(","):
        tag = re.sub(r"\s+", "-", part.strip().lower())
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def name_taken(name: str) -> str:
    return f"Your team already has an instance called “{name}”. Pick another name."


def clean_instance_name(raw: str, *, team_id: int, excluding=None) -> str:
    """An instance name as typed, tidied; refused when another instance of the team (not `excluding`'s
    pk) has it. Other teams' names are not looked at, so the refusal tells nothing about them."""
    value = re.sub(r"\s+", " ", plain_text(raw, "name")).strip()
    if not re.fullmatch(r"[\w .()&'+-]+", value):
        raise forms.ValidationError("Use letters, digits, spaces and . - _ ( ) & ' + in the name.")
    if Instance.objects.filter(team_id=team_id, name__iexact=value).exclude(pk=excluding).exists():
        raise forms.ValidationError(name_taken(value), code="taken")
    return value


def check_polling(form: forms.Form, data: dict) -> dict:
    """Polling's resources and interval matter only while polling is on: then both are needed;
    while it is off, whatever they hold is nothing to correct (the instance keeps its old values)."""
    if not data.get("polling_enabled"):
        for name in ("polling_resources", "polling_interval_minutes"):
            form.errors.pop(name, None)
        return data
    if not data.get("polling_resources"):
        form.add_error("polling_resources", "Pick at least one resource to poll, or turn polling off.")
    if data.get("polling_interval_minutes") is None and "polling_interval_minutes" not in form.errors:
        form.add_error("polling_interval_minutes", "Enter how often to poll, in minutes.")
    return data


def clean_instance_tags(raw: str) -> list[str]:
    tags = normalize_tags(plain_text(raw, "tags"))
    if len(tags) > 10:
        raise forms.ValidationError("Use at most 10 tags.")
    for tag in tags:
        if len(tag) > 30 or not re.fullmatch(r"[\w.-]+", tag):
            raise forms.ValidationError(f"“{tag[:30]}” is not a usable tag: up to 30 letters, digits, "
                                        ". - or _ each.")
    return tags


class InstanceForm(EndpointFields, StageForm):
    """Stage 8; the webhook fields (events on/off, callback URL, lifecycle types) come from EndpointFields."""

    name = forms.CharField(
        label="Instance name", max_length=100,
        error_messages={"required": "Give the instance a name.",
                        "max_length": "Keep the name to 100 characters or fewer."},
        help_text="How the instance is listed, for example “Contoso Sales (production)”.")
    tags = forms.CharField(
        label="Tags", required=False, max_length=300,
        error_messages={"max_length": "Keep the tags to 300 characters or fewer."},
        help_text="Comma-separated, for example <code>sales, production</code>.")
    polling_enabled = forms.BooleanField(
        label="Poll Dynamics for changes (events)", required=False,
        # portal.js disables the polling options while this is off; without JavaScript clean() ignores them.
        widget=forms.CheckboxInput(attrs={"data-controls": "#polling-options"}))
    polling_resources = forms.MultipleChoiceField(
        label="Resources to poll", choices=FRIENDLY_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Pick from the listed resources."})
    polling_interval_minutes = forms.IntegerField(
        label="Polling interval (minutes)", min_value=1, max_value=1440, required=False,
        error_messages={"invalid": "Enter a whole number of minutes.",
                        "min_value": "Poll at most once a minute (1 or more).",
                        "max_value": "Poll at least once a day (1440 minutes or fewer)."})
    filter_nulls = forms.BooleanField(label="Leave out empty (null) fields in responses", required=False)

    @staticmethod
    def initial_from(setup: Setup) -> dict:
        saved = dict(setup.instance_settings or {})
        if "tags" in saved:
            saved["tags"] = ", ".join(saved["tags"])
        return {"polling_enabled": False, "polling_resources": ["accounts", "contacts"],
                "polling_interval_minutes": 15, "filter_nulls": True, "events_enabled": False,
                "lifecycle_types": list(LifecycleType.values), **saved}

    def clean_name(self) -> str:
        return clean_instance_name(self.cleaned_data["name"], team_id=self.setup.team_id)

    def clean_tags(self) -> list[str]:
        return clean_instance_tags(self.cleaned_data["tags"])

    def clean(self):
        return check_polling(self, super().clean())

    def settings(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "tags": data["tags"], "polling_enabled": data["polling_enabled"],
                "polling_resources": data["polling_resources"] if data["polling_enabled"] else [],
                "polling_interval_minutes": data.get("polling_interval_minutes") or 15,
                "filter_nulls": data["filter_nulls"], "events_enabled": data["events_enabled"],
                "callback_url": data.get("callback_url", ""), "lifecycle_types": data.get("lifecycle_types") or []}


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
