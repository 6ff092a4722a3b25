"""Forms for reviews and lifecycle actions on the instance page."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from setup_portal.azure.certificates import MAX_UPLOAD_BYTES, CertificateInvalid, load_uploaded
from setup_portal.text import GUID

MAX_SECRET_MONTHS = 24


class ReviewForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000, label="Comment",
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="Required when you ask for changes: the owner sees it on their home page.")


class RotateSecretForm(forms.Form):
    new_secret = forms.CharField(
        label="New client secret value", max_length=255, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="In Azure AD: App registrations → your app → Certificates &amp; secrets → New client secret. "
                  "Copy the <strong>Value</strong> right away (Azure shows it once), not the Secret ID.")
    expires_on = forms.DateField(label="Expires on", widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="The “Expires” date Azure shows next to the new secret. "
                                           "We remind the owner and team leads 30, 7 and 1 days before.")

    def clean_new_secret(self) -> str:
        value = self.cleaned_data["new_secret"]
        if GUID.match(value):
            raise forms.ValidationError("This looks like the secret's ID (a GUID). Paste the secret's Value instead.")
        if len(value) < 16:
            raise forms.ValidationError("Azure AD client secrets are longer than this; paste the whole Value.")
        return value

    def clean_expires_on(self) -> dt.date:
        value = self.cleaned_data["expires_on"]
        today = timezone.localdate()
        if value <= today:
            raise forms.ValidationError("That date has passed: a new secret must expire in the future.")
        if value > today + dt.timedelta(days=31 * MAX_SECRET_MONTHS):
            raise forms.ValidationError("Azure AD secrets last at most 24 months; check the date.")
        return value


class DisableForm(forms.Form):
    reason = forms.CharField(required=False, max_length=300, label="Reason",
                             help_text="Kept in the audit log, so others know why.")


class DeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the instance name to confirm", max_length=100)

    def __init__(self, *args, instance_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance_name = instance_name

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.instance_name:
            raise forms.ValidationError(f"Type the name exactly as shown: {self.instance_name}")
        return value


class RotateCertificateForm(forms.Form):
    """Rotate to a certificate of the admin's own; the generated one needs no form."""

    certificate_file = forms.FileField(
        label="Your next certificate (.pem with its private key, or .pfx)",
        error_messages={"required": "Choose the certificate file, or generate the next certificate above."},
        widget=forms.ClearableFileInput(attrs={"accept": ".pem,.pfx,.p12,.crt,.key"}))
    certificate_password = forms.CharField(
        label="Password of the file", required=False, max_length=256, strip=False,
        help_text="Only for a .pfx file or an encrypted private key.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))

    certificate = None  # after is_valid(): the checked certificate

    def clean(self):
        data = super().clean()
        upload = data.get("certificate_file")
        if upload is not None:
            try:
                # Read no more than a certificate can be, whatever size was sent.
                content = upload.read(MAX_UPLOAD_BYTES + 1)
                self.certificate = load_uploaded(content, data.get("certificate_password") or "")
            except CertificateInvalid as exc:
                self.add_error(exc.field, exc.message)
        return data
