"""Forms for webhook settings (the instance's events page and wizard stage 8) and the delivery log filter."""

from __future__ import annotations

from django import forms

from . import guard
from .models import Delivery, LifecycleType

LIFECYCLE_CHOICES = [(t.value, f"{t.label} ({t.value})") for t in LifecycleType]


def clean_callback_url(url: str) -> str:
    """The outbound guard's verdict as a form error: https, a public host, no credentials."""
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise forms.ValidationError("The callback URL contains spaces or invisible characters.")
    try:
        guard.check_url(url)
    except guard.OutboundRefused as exc:
        raise forms.ValidationError(str(exc)) from None
    return url


class EndpointFields(forms.Form):
    """The webhook settings; stage 8's InstanceForm (instances/forms.py) mixes the same fields in."""

    events_enabled = forms.BooleanField(
        label="Send events to a callback URL (webhooks)", required=False,
        widget=forms.CheckboxInput(attrs={"data-controls": "#webhook-options"}))
    callback_url = forms.CharField(
        label="Callback URL", required=False, max_length=guard.MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/dynamics", "spellcheck": "false"}),
        error_messages={"max_length": f"Keep the URL to {guard.MAX_URL_LENGTH} characters or fewer."},
        help_text="An https:// address your application listens on. It gets a signed POST (Standard Webhooks) "
                  "for every event.")
    # Not required by the field (events may be off), but clean() requires it while they are on:
    # the label says so instead of "(optional)" (includes/field.html).
    callback_url.required_when = "while events are on"
    lifecycle_types = forms.MultipleChoiceField(
        label="Lifecycle events to send", choices=LIFECYCLE_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple, error_messages={"invalid_choice": "Pick from the listed events."})

    def clean_callback_url(self) -> str:
        url = self.cleaned_data["callback_url"].strip()
        return clean_callback_url(url) if url else ""

    def clean(self):
        data = super().clean()
        if not data.get("events_enabled"):
            # Unused while events are off (portal.js disables them), so nothing to correct.
            for name in ("callback_url", "lifecycle_types"):
                self.errors.pop(name, None)
        elif not data.get("callback_url") and "callback_url" not in self.errors:
            self.add_error("callback_url", "Enter the callback URL, or turn events off.")
        return data

    def endpoint_settings(self) -> dict:
        data = self.cleaned_data
        return {"enabled": bool(data["events_enabled"]), "url": data.get("callback_url", ""),
                "lifecycle_types": list(data.get("lifecycle_types") or [])}


class EndpointForm(EndpointFields):
    @staticmethod
    def initial_from(endpoint) -> dict:
        return {"events_enabled": endpoint.enabled, "callback_url": endpoint.url,
                "lifecycle_types": list(endpoint.lifecycle_types or [])}


class DeliveryFilter(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Delivery.Status.choices], required=False)


def with_sandbox_bin(form: forms.Form, data) -> dict:
    """Initial values for `form` as the admin typed them (`data`), with events on and aimed at a
    fresh bin of the sandbox's webhook inspector ("Use the sandbox tenant")."""
    from .endpoints import new_sandbox_bin_url

    initial: dict = {}
    for name, field in form.fields.items():
        if isinstance(field, forms.MultipleChoiceField):
            initial[name] = data.getlist(name)
        elif isinstance(field, forms.BooleanField):
            initial[name] = name in data
        elif name in data:
            initial[name] = data.get(name)
    initial.update(events_enabled=True, callback_url=new_sandbox_bin_url())
    return initial


class NotificationFilter(forms.Form):
    """The notifications page's filter: one of the instances the person has entries about, one kind.
    A value that is not offered is ignored (the filter shows everything for it)."""

    instance = forms.ChoiceField(required=False, label="Instance")
    kind = forms.ChoiceField(required=False, label="Kind")

    def __init__(self, data, *, instances: list[tuple[str, str]], kinds: dict[str, str]):
        super().__init__(data)
        self.fields["instance"].choices = [("", "All instances"), *instances]
        self.fields["kind"].choices = [("", "All kinds"), *kinds.items()]

    def chosen(self) -> dict[str, str]:
        """The valid choices made, as notifications' field lookups."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        picked = {"instance_id": data.get("instance"), "kind": data.get("kind")}
        return {field: value for field, value in picked.items() if value}
