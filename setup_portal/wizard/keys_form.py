"""Stage 4, "Keys and client ID": the app's client ID and its secret or certificate, checked with Azure AD
as they are saved (or, under custom authentication, a user's sign-in name and password)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils import timezone

from setup_portal.azure.certificates import (
    MAX_UPLOAD_BYTES,
    Certificate,
    CertificateInvalid,
    CredentialKind,
    load_uploaded,
)
from setup_portal.azure.client import AzureError, verify_client_secret
from setup_portal.azure.clouds import AuthType
from setup_portal.azure.errors import explain
from setup_portal.forms import plain_text
from setup_portal.text import GUID

from .forms import StageForm
from .models import Setup

DYNAMICS_CRM_APP_ID = "00000007-0000-0000-c000-000000000000"
SECRET_MAX_MONTHS = 24


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


class KeysForm(StageForm):
    """Client ID + secret or certificate (OAuth 2.0, server-to-server), or user name + password (custom)."""

    credential_kind = forms.ChoiceField(
        label="The app proves itself with", widget=forms.RadioSelect, required=False,
        choices=[(CredentialKind.SECRET, "A client secret"),
                 (CredentialKind.CERTIFICATE, "A certificate — recommended by Microsoft: nothing secret to copy, "
                                              "and the private key never leaves the portal")],
        error_messages={"invalid_choice": "Pick a client secret or a certificate."})
    certificate_file = forms.FileField(
        label="Or upload your own certificate (.pem with its private key, or .pfx)", required=False,
        help_text="Leave this empty to use the certificate the portal generated. An RSA key of at least 2048 bits.",
        widget=forms.ClearableFileInput(attrs={"accept": ".pem,.pfx,.p12,.crt,.key"}))
    certificate_password = forms.CharField(
        label="Password of the file", required=False, max_length=256, strip=False,
        help_text="Only for a .pfx file or an encrypted private key.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))

    client_id = forms.CharField(
        label="OAuth Client ID in Azure AD (Application (client) ID)", required=False, max_length=100,
        error_messages={"required": "Enter the Application (client) ID from the app's Overview page."},
        help_text="On the app's <strong>Overview</strong> page: <em>Application (client) ID</em>, a GUID.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off",
                                      "placeholder": "00000000-0000-0000-0000-000000000000"}))
    client_secret = forms.CharField(
        label="OAuth Client Secret in Azure AD (the secret's Value)", required=False, max_length=1024, strip=True,
        error_messages={"required": "Paste the secret's Value (shown once in Azure, right after you add it)."},
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}))
    secret_expires_on = forms.DateField(
        label="Secret expires on", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, as shown in the Expires column.",
                        "required": "Enter the date the secret expires, from the Expires column."},
        help_text="The <em>Expires</em> column next to the secret. The portal reminds you before it runs out.")
    username = forms.CharField(
        label="User name", required=False, max_length=254,
        error_messages={"required": "Enter the user's sign-in name."},
        help_text="The Dynamics user's sign-in name, such as <code>someone@contoso.onmicrosoft.com</code>.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    password = forms.CharField(
        label="Password", required=False, max_length=256, strip=False,
        error_messages={"required": "Enter the user's password."},
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))

    azure_accepted = False  # after is_valid(): Azure AD issued a token with these keys
    certificate: Certificate | None = None  # after is_valid(), with a certificate: the one to use
    azure_unreachable = ""  # after is_valid(): why Azure AD could not be asked (a transport error code)

    def __init__(self, data=None, *, setup: Setup, sandbox: dict | None = None, files=None):
        super().__init__(data, setup=setup, sandbox=sandbox, files=files)
        secret_help = ("Paste the <em>Value</em> column, not the <em>Secret ID</em>. Azure shows the value only "
                       "once, right after you add the secret.")
        if setup.secret_hint:
            secret_help = (f"A secret ending …{setup.secret_hint[-4:]} is saved; leave this empty to keep it. "
                           + secret_help)
        self.fields["client_secret"].help_text = secret_help
        if setup.password_hint:
            self.fields["password"].help_text = "A password is saved; leave this empty to keep it."
        # Which fields are required depends on the auth type and on what is stored; the clean_*
        # methods enforce it with specific messages, this only marks the labels right.
        for bound in self.stage_fields():
            bound.field.required = not ((bound.name == "client_secret" and setup.secret_hint)
                                        or (bound.name == "password" and setup.password_hint))
        if self.uses_certificate:  # the certificate stands in for the secret and says when it expires
            self.fields["client_secret"].required = self.fields["secret_expires_on"].required = False

    @staticmethod
    def initial_from(setup: Setup) -> dict:
        return {"client_id": setup.client_id, "secret_expires_on": setup.secret_expires_on,
                "username": setup.username, "credential_kind": setup.credential_kind}

    @property
    def uses_certificate(self) -> bool:
        kind = self.data.get("credential_kind") if self.is_bound else None
        return not self.custom and (kind or self.setup.credential_kind) == CredentialKind.CERTIFICATE

    def certificate_fields(self):
        return [self["certificate_file"], self["certificate_password"]]

    @property
    def saved_certificate(self) -> Certificate | None:
        """The certificate generated or saved for this setup (what "Download" offers)."""
        if not (self.setup.certificate_pem and self.setup.certificate_key):
            return None
        return Certificate(self.setup.certificate_pem, str(self.setup.certificate_key))

    @property
    def custom(self) -> bool:
        return self.setup.auth_type == AuthType.CUSTOM

    def stage_fields(self):
        names = ("username", "password") if self.custom else ("client_id", "client_secret", "secret_expires_on")
        return [self[name] for name in names]

    def clean_client_id(self) -> str:
        value = plain_text(self.cleaned_data["client_id"].strip(), "client ID").lower().strip("{}")
        if self.custom:
            return ""
        if not value:
            raise forms.ValidationError("Enter the Application (client) ID from the app's Overview page.")
        if not GUID.match(value):
            raise forms.ValidationError("The client ID is a GUID like 1b2c3d4e-0000-4a5b-8c9d-112233445566; "
                                        "copy “Application (client) ID” from the app's Overview page.")
        if value == DYNAMICS_CRM_APP_ID:
            raise forms.ValidationError("That is Microsoft's ID for the Dynamics CRM API, not your app's. "
                                        "Copy your app's Application (client) ID.")
        if value == self.setup.tenant:
            raise forms.ValidationError("That is the directory (tenant) ID. Copy the Application (client) ID, "
                                        "just above it on the Overview page.")
        return value

    def clean_client_secret(self) -> str:
        value = self.cleaned_data["client_secret"]
        if self.custom or self.uses_certificate:
            return ""
        if not value:
            if self.setup.client_secret and not self.client_id_changed():
                return ""  # keep the stored one
            raise forms.ValidationError("Paste the secret's Value (shown once in Azure, right after you add it).")
        if GUID.match(value.strip("{}")):
            raise forms.ValidationError("This looks like the Secret ID (a GUID). Copy the Value column instead; "
                                        "if Azure no longer shows it, add a new client secret.")
        if any(ch.isspace() for ch in value) or any(ord(ch) < 32 for ch in value):
            raise forms.ValidationError("Secret values have no spaces or line breaks; copy only the Value.")
        if len(value) < 10:
            raise forms.ValidationError("That is too short for a client secret value (Azure's are about 40 "
                                        "characters). Copy the whole Value.")
        return value

    def clean_secret_expires_on(self) -> dt.date | None:
        value = self.cleaned_data["secret_expires_on"]
        if self.custom or self.uses_certificate:
            return None  # a certificate says when it expires
        if not value:
            raise forms.ValidationError("Enter the date the secret expires, from the Expires column.")
        if value < timezone.localdate():
            raise forms.ValidationError("This secret has already expired, so Azure would refuse it "
                                        "(AADSTS7000222). Add a new client secret and use that one.")
        if value.year > 9000:
            raise forms.ValidationError("That date is too far away; check the Expires column again.")
        return value

    def clean_username(self) -> str:
        value = plain_text(self.cleaned_data["username"].strip(), "user name")
        if not self.custom:
            return ""
        if not value:
            raise forms.ValidationError("Enter the user's sign-in name.")
        if not value.isascii() or not re.fullmatch(r"[^@\s]+@[a-z0-9.-]+\.[a-z]{2,63}", value, re.I):
            raise forms.ValidationError("Enter the sign-in name in the form someone@contoso.onmicrosoft.com.")
        return value.lower()

    def clean_password(self) -> str:
        value = self.cleaned_data["password"]
        if not self.custom:
            return ""
        if not value:
            if self.setup.password:
                return ""  # keep the stored one
            raise forms.ValidationError("Enter the user's password.")
        return value

    def client_id_changed(self) -> bool:
        raw = (self.data.get("client_id") or "").strip().lower()
        return bool(raw) and raw != self.setup.client_id

    def clean(self):
        data = super().clean()
        if self.uses_certificate and not self.errors:
            self.certificate = self._chosen_certificate(data.get("certificate_file"),
                                                        data.get("certificate_password") or "")
        if not self.custom and not self.errors:
            secret = "" if self.certificate else data["client_secret"] or str(self.setup.client_secret or "")
            self._ask_azure(data["client_id"], secret, self.certificate)
        return data

    def _chosen_certificate(self, upload, password: str) -> Certificate | None:
        """The uploaded certificate once it passes the checks, else the one generated (or saved) before."""
        if upload is not None:
            try:
                return load_uploaded(upload.read(MAX_UPLOAD_BYTES + 1), password)
            except CertificateInvalid as exc:
                self.add_error(exc.field, exc.message)
                return None
        stored = self.saved_certificate
        if stored:
            if stored.expires_on > timezone.localdate():
                return stored
            self.add_error("certificate_file", f"The saved certificate expired on {stored.expires_on:%Y-%m-%d}. "
                                               "Generate a new one, or upload your own.")
            return None
        self.add_error("certificate_file", "Generate a certificate above, or upload your own.")
        return None

    def _ask_azure(self, client_id: str, client_secret: str, certificate: Certificate | None = None) -> None:
        """Request an app token with these keys now, so a wrong or expired secret is refused at its
        field rather than after sign-in and consent.

        When Azure AD cannot be reached the keys are saved anyway (checked again at Authorize):
        a network problem at this moment says nothing about the keys, and blocking on it would
        strand the admin.
        """
        try:
            verify_client_secret(cloud=self.setup.cloud, tenant=self.setup.tenant, use_sandbox=self.setup.use_sandbox,
                                 client_id=client_id, client_secret=client_secret,
                                 dynamics_url=self.setup.dynamics_url,
                                 certificate_pem=certificate.certificate_pem if certificate else "",
                                 certificate_key=certificate.private_key_pem if certificate else "")
        except AzureError as exc:
            if exc.retryable:
                self.azure_unreachable = exc.code
            else:
                field, message = _key_refusal(exc.code, self.setup.tenant)
                if certificate and field == "client_secret":
                    field = "certificate_file"
                self.add_error(field, message)
            return
        self.azure_accepted = True

    def flash_notes(self) -> list[str]:
        if not self.azure_unreachable:
            return []
        what = "certificate" if self.certificate else "client secret"
        return [f"Azure AD could not be reached to check the {what} ({self.azure_unreachable}). The keys "
                "are saved; they are checked again when you authorize."]

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        if self.custom:
            changes: dict[str, Any] = {"username": data["username"]}
            if data["password"]:
                changes["password"] = data["password"]
            if self.sandbox:
                # The sandbox's public client stands in for the portal's own, as custom auth has no app.
                changes["client_id"] = self.sandbox["public_client_id"]
            return changes
        if self.certificate:
            return {"client_id": data["client_id"], **certificate_changes(self.certificate)}
        changes = {"client_id": data["client_id"], "secret_expires_on": data["secret_expires_on"],
                   "credential_kind": CredentialKind.SECRET, "certificate_pem": "", "certificate_key": "",
                   "certificate_thumbprint": ""}
        if data["client_secret"]:
            changes["client_secret"] = data["client_secret"]
        return changes

    def notes(self) -> list[str]:
        if self.certificate:
            expires = self.certificate.expires_on
            if expires <= timezone.localdate() + dt.timedelta(days=30):
                return [f"The certificate expires on {expires:%Y-%m-%d}, within 30 days. Rotate it here soon, or "
                        "the instance stops working."]
            return []
        expires = self.cleaned_data.get("secret_expires_on")
        if not expires:
            return []
        today = timezone.localdate()
        if expires <= today + dt.timedelta(days=30):
            return [f"The client secret expires on {expires:%Y-%m-%d}, within 30 days. Add a new secret in "
                    "Azure soon and rotate it here, or the instance stops working."]
        if expires > _add_months(today, SECRET_MAX_MONTHS):
            return [f"The expiry {expires:%Y-%m-%d} is more than {SECRET_MAX_MONTHS} months away, longer than "
                    "Azure allows for a client secret. Check the Expires column."]
        return []


def certificate_changes(certificate: Certificate) -> dict[str, Any]:
    """The Setup fields for signing in with this certificate; the client secret goes (one credential at a time)."""
    return {"credential_kind": CredentialKind.CERTIFICATE, "certificate_pem": certificate.certificate_pem,
            "certificate_key": certificate.private_key_pem, "certificate_thumbprint": certificate.thumbprint,
            "secret_expires_on": certificate.expires_on, "client_secret": ""}


def _key_refusal(code: str, tenant: str) -> tuple[str | None, str]:
    """The field Azure AD's refusal of the keys belongs to, and what to tell the admin there."""
    if code == "AADSTS700027":
        return "certificate_file", ("Azure AD does not know this certificate (AADSTS700027). Upload the .cer file "
                                    "under Certificates & secrets → Certificates in the app registration, check "
                                    "that the thumbprint matches, then save again.")
    if code == "AADSTS7000215":
        return "client_secret", ("Azure AD refused this secret (AADSTS7000215). Paste the secret's Value, not its "
                                 "Secret ID; if Azure no longer shows the value, add a new client secret.")
    if code == "AADSTS7000222":
        return "client_secret", ("This secret has expired in Azure AD (AADSTS7000222). Add a new client secret "
                                 "and paste its Value.")
    if code == "AADSTS700016":
        return "client_id", (f"Azure AD has no app with this client ID in the directory {tenant} (AADSTS700016). "
                             "Copy the Application (client) ID from the app's Overview page, or check the "
                             "directory on the Environment stage.")
    explanation = explain(code)
    return None, f"Azure AD refused these keys: {explanation.title} ({code}). {explanation.what_to_do}"
