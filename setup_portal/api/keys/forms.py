"""The form a person fills in to make a personal API key."""

from __future__ import annotations

from django import forms

from .actions import DEFAULT_DAYS, MAX_DAYS


class NewApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, label="Name",
        help_text="What the key is for, e.g. “Nightly provisioning script”.",
        error_messages={"required": "Give the key a name, so you can tell it from your others later.",
                        "max_length": "A key's name is at most 100 characters."})
    expires_days = forms.IntegerField(
        min_value=1, max_value=MAX_DAYS, initial=DEFAULT_DAYS, label="Expires after (days)",
        help_text=f"From 1 to {MAX_DAYS} days; {DEFAULT_DAYS} unless you change it.",
        error_messages={"required": f"Say how many days the key lasts (1 to {MAX_DAYS}).",
                        "invalid": f"Write a whole number of days, from 1 to {MAX_DAYS}.",
                        "min_value": "A key lasts at least 1 day.",
                        "max_value": f"A key lasts at most {MAX_DAYS} days (a year); make a new one when it expires."})
