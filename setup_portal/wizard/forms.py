"""One form per wizard stage. Each turns valid input into `changes()` for the Setup, and `notes()` warnings."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone

from setup_portal.azure import discovery
from setup_portal.azure.certificates import (
    MAX_UPLOAD_BYTES,
    Certificate,
    CertificateInvalid,
    CredentialKind,
    load_uploaded,
)
from setup_portal.azure.client import AzureError, verify_client_secret
from setup_portal.azure.clouds import GUID, AuthType, Cloud, InvalidTenant, normalize_tenant
from setup_portal.azure.errors import explain
from setup_portal.dataverse.dynamics_url import SANDBOX_REGION, InvalidDynamicsUrl, normalize_dynamics_url
from setup_portal.events.forms import EndpointFields
from setup_portal.events.models import LifecycleType
from setup_portal.teams import permissions
from setup_portal.teams.models import Team

from .models import Setup

DYNAMICS_CRM_APP_ID = "00000007-0000-0000-c000-000000000000"
SECRET_MAX_MONTHS = 24
POLLING_RESOURCES = [
    ("accounts", "Accounts"), ("contacts", "Contacts"), ("leads", "Leads"), ("opportunities", "Opportunities"),
    ("tasks", "Tasks"), ("notes", "Notes"), ("activities", "Activities"),
]


def _plain_text(value: str, label: str) -> str:
    """Reject control characters: nothing an admin types needs them, and they hide things in logs."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise forms.ValidationError(f"The {label} contains invisible control characters; type it again.")
    return value


class StageForm(forms.Form):
    """Base: bound to the setup whose stage it edits."""

    def __init__(self, data=None, *, setup: Setup, sandbox: dict | None = None, files=None):
        super().__init__(data, files, initial=self.initial_from(setup))
        self.setup = setup
        self.sandbox = sandbox

    @staticmethod
    def initial_from(setup: Setup) -> dict:
        return {}

    def changes(self) -> dict[str, Any]:
        return {}

    def notes(self) -> list[str]:
        return []

    def flash_notes(self) -> list[str]:
        """Warnings about this submission only, shown once and not kept with the stage."""
        return []


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Team) -> str:
        return obj.name


class SetupTeamForm(forms.Form):
    """The team of a setup the sandbox shortcut fills in: it skips stage 1, where the team is asked."""

    team = TeamChoiceField(label="Team", queryset=Team.objects.none(), empty_label=None,
                           help_text="The endpoint belongs to this team: its admins run it, its team leads "
                                     "review it.",
                           error_messages={"required": "Pick the team this endpoint is for.",
                                           "invalid_choice": "Pick one of the listed teams; you are an admin "
                                                             "of those."})

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = permissions.teams_for_new_setups(user)

    @property
    def asks(self) -> bool:
        """Only an admin of several teams has a choice to make."""
        return self.fields["team"].queryset.count() > 1


class AccountForm(StageForm):
    # Only for an admin of several teams: one team is chosen without asking (see __init__).
    team = TeamChoiceField(
        label="Which team is this endpoint for?", queryset=Team.objects.none(), widget=forms.RadioSelect,
        empty_label=None,
        help_text="The endpoint belongs to this team: its admins run it, its team leads review it.",
        error_messages={"required": "Pick the team this endpoint is for.",
                        "invalid_choice": "Pick one of the listed teams; you are an admin of those."})
    dynamics_account = forms.BooleanField(
        label="I can sign in to the Dynamics 365 (Dynamics CRM) environment I want to connect.",
        error_messages={"required": "Tick this once you have a Dynamics account; the setup needs one."})
    consent_admin = forms.BooleanField(
        label="I am an administrator of the Azure AD (Microsoft Entra ID) directory, or someone who can grant "
              "admin consent will help me.",
        error_messages={"required": "Tick this once you know who can grant admin consent in Azure AD."})
    register_app = forms.BooleanField(
        label="I can register an application in that directory (or one is registered already).",
        error_messages={"required": "Tick this once you can create or pick an app registration."})

    def __init__(self, data=None, *, setup: Setup, sandbox: dict | None = None):
        super().__init__(data, setup=setup, sandbox=sandbox)
        self.teams = list(permissions.teams_for_new_setups(setup.owner))
        if len(self.teams) < 2:
            del self.fields["team"]
            return
        self.fields["team"].queryset = permissions.teams_for_new_setups(setup.owner)
        # A new draft asks; a stage done before shows the team picked then.
        if setup.prerequisites and any(t.pk == setup.team_id for t in self.teams):
            self.initial["team"] = setup.team_id

    @staticmethod
    def initial_from(setup: Setup) -> dict:
        return dict(setup.prerequisites or {})

    @property
    def chosen_team(self) -> Team | None:
        """The team the setup will be in: the one picked, or the admin's only team."""
        if "team" in self.fields:
            return self.cleaned_data.get("team") if hasattr(self, "cleaned_data") else None
        return self.teams[0] if len(self.teams) == 1 else None

    def changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "prerequisites": {k: True for k in ("dynamics_account", "consent_admin", "register_app")}}
        if self.chosen_team is not None:
            changes["team_id"] = self.chosen_team.pk
        return changes


class EnvironmentForm(StageForm):
    dynamics_url = forms.CharField(
        label="Microsoft Dynamics CRM URL", max_length=2048,
        error_messages={"required": "Enter your Dynamics CRM URL, for example https://contoso.crm.dynamics.com.",
                        "max_length": "That is too long to be a Dynamics CRM URL."},
        help_text="The address you sign in to, such as <code>https://contoso.crm.dynamics.com</code>. "
                  "Pasting a longer link from the browser is fine; the portal keeps only the environment part.",
        widget=forms.TextInput(attrs={"autocomplete": "url", "spellcheck": "false", "inputmode": "url",
                                      "placeholder": "https://contoso.crm.dynamics.com"}))
    tenant = forms.CharField(
        label="Directory (tenant) ID or domain", max_length=300,
        error_messages={"required": "Enter your directory (tenant) ID or a verified domain.",
                        "max_length": "That is too long to be a tenant ID or domain."},
        help_text="In the Microsoft Entra admin center: <strong>Identity → Overview → Tenant ID</strong>, "
                  "or a verified domain like <code>contoso.onmicrosoft.com</code>.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off",
                                      "placeholder": "72f988bf-86f1-41af-91ab-2d7cd011db47"}))
    cloud = forms.ChoiceField(label="Cloud", choices=Cloud.choices, widget=forms.RadioSelect,
                              error_messages={"required": "Pick the cloud your directory is in.",
                                              "invalid_choice": "Pick one of the listed clouds."},
                              help_text="Decides where admins sign in: worldwide, US Government or China.")

    # Shown only while a "Find my environments" list is fresh (azure.discovery); values are the
    # environments' ids, and what an id stands for is read from that server-side list, never the post.
    environment = forms.ChoiceField(
        label="Pick an environment", required=False, widget=forms.RadioSelect, choices=[],
        error_messages={"invalid_choice": "That environment is not in the list. Use “Find my environments” "
                                          "again, or type its URL."})

    parsed = None

    def __init__(self, data=None, *, setup: Setup, sandbox: dict | None = None):
        super().__init__(data, setup=setup, sandbox=sandbox)
        self.discovery = discovery.current(setup)
        found = self.discovery.discovered["environments"] if self.discovery else None
        self.found: list[dict] = found or []
        if found is None:
            del self.fields["environment"]
            return
        where = self.discovery.discovered
        self.fields["environment"].choices = [(e["id"], e["friendly_name"]) for e in self.found]
        self.fields["dynamics_url"].required = False
        self.fields["dynamics_url"].label = "Or type the Microsoft Dynamics CRM URL"
        # Sign-in goes where the list came from.
        service = discovery.SERVICES.get(where.get("service", ""))
        self.initial["tenant"] = where.get("tenant") or where.get("tenant_id") or self.initial.get("tenant")
        if service is not None:
            self.initial["cloud"] = service.cloud
        usable = [e for e in self.found if e["usable"]]
        if len(usable) == 1:
            self.initial["environment"] = usable[0]["id"]

    @staticmethod
    def initial_from(setup: Setup) -> dict:
        return {"dynamics_url": setup.dynamics_url, "tenant": setup.tenant, "cloud": setup.cloud}

    def clean_dynamics_url(self) -> str:
        if not self.cleaned_data["dynamics_url"] and not self.fields["dynamics_url"].required:
            return ""  # an environment picked from the list instead; clean() checks one of them is given
        try:
            self.parsed = normalize_dynamics_url(self.cleaned_data["dynamics_url"],
                                                 sandbox_allowed=settings.SANDBOX_ENABLED)
        except InvalidDynamicsUrl as exc:
            raise forms.ValidationError(exc.message) from None
        return self.parsed.url

    def clean_tenant(self) -> str:
        try:
            return normalize_tenant(self.cleaned_data["tenant"])
        except InvalidTenant as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self):
        data = super().clean()
        if "environment" in self.fields:
            self._clean_picked(data)
        parsed, cloud = self.parsed, data.get("cloud")
        if parsed and cloud and parsed.region != SANDBOX_REGION and parsed.cloud != cloud:
            self.add_error("cloud", f"This Dynamics URL is in the “{Cloud(parsed.cloud).label}” cloud; "
                                    "pick that one so sign-in goes to the right place.")
        return data

    def _clean_picked(self, data: dict) -> None:
        """A picked environment wins over the typed URL; it passes the same URL guard."""
        picked = next((e for e in self.found if data.get("environment") and e["id"] == data["environment"]), None)
        if picked is None:
            if not self.parsed and "dynamics_url" not in self.errors and "environment" not in self.errors:
                self.add_error("dynamics_url", "Pick an environment from the list, or type its URL.")
            return
        self.errors.pop("dynamics_url", None)
        if picked["state"] != 0:
            self.add_error("environment", f"“{picked['friendly_name']}” is disabled, so the portal cannot connect "
                                          "to it. Pick an enabled environment, or enable this one in the Power "
                                          "Platform admin center and search again.")
            return
        try:
            self.parsed = normalize_dynamics_url(picked["url"], sandbox_allowed=settings.SANDBOX_ENABLED)
        except InvalidDynamicsUrl as exc:
            self.add_error("environment", f"“{picked['friendly_name']}”: {exc.message}")
            return
        data["dynamics_url"] = self.parsed.url

    def changes(self) -> dict[str, Any]:
        sandbox = self.parsed.region == SANDBOX_REGION
        return {"dynamics_url": self.parsed.url, "region": self.parsed.region,
                "cloud": Cloud.PUBLIC if sandbox else self.cleaned_data["cloud"],
                "tenant": self.cleaned_data["tenant"], "use_sandbox": sandbox}


class DiscoveryForm(forms.Form):
    """"Find my environments": where to sign in before the Global Discovery Service lists them."""

    service = forms.ChoiceField(
        label="Where your environments are", choices=[],
        error_messages={"required": "Pick where your Dynamics environments are.",
                        "invalid_choice": "Pick one of the listed clouds."})
    tenant = forms.CharField(
        label="Directory to sign in to (tenant ID or domain)", max_length=300, required=False,
        error_messages={"max_length": "That is too long to be a tenant ID or domain."},
        help_text="Your directory's tenant ID or a verified domain. Not needed for the sandbox tenant.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off",
                                      "placeholder": "contoso.onmicrosoft.com"}))

    def __init__(self, data=None, *, setup: Setup):
        initial = {"tenant": setup.tenant,
                   "service": discovery.SANDBOX if setup.use_sandbox and settings.SANDBOX_ENABLED else
                   {Cloud.USGOV: "usg", Cloud.CHINA: "china"}.get(setup.cloud, "commercial")}
        last = discovery.current(setup)
        if last is not None:  # search again where the list came from
            initial["service"] = last.discovered.get("service", initial["service"])
            if initial["service"] != discovery.SANDBOX:
                initial["tenant"] = last.discovered.get("tenant", setup.tenant)
        super().__init__(data, initial=initial, prefix="find")
        self.fields["service"].choices = discovery.service_choices()

    def clean(self):
        data = super().clean()
        if data.get("service") == discovery.SANDBOX:
            data["tenant"] = discovery.sandbox_tenant()
            return data
        try:
            data["tenant"] = normalize_tenant(data.get("tenant", ""))
        except InvalidTenant as exc:
            if "tenant" not in self.errors:
                self.add_error("tenant", exc.message)
        return data


class ApplicationForm(StageForm):
    auth_type = forms.ChoiceField(
        label="Authentication type", widget=forms.RadioSelect,
        choices=[(AuthType.OAUTH2, "OAuth 2.0 (authorization code) — recommended: an admin signs in once; "
                                   "the portal keeps a refreshable token"),
                 (AuthType.S2S, "Server-to-server (client credentials) — no user; needs an application user "
                                "with a security role in the Dataverse environment"),
                 (AuthType.CUSTOM, "Custom (a user's name and password) — no app of your own; fails for "
                                   "accounts with MFA, and Microsoft is retiring it")],
        error_messages={"required": "Pick how the portal signs in to Dynamics.",
                        "invalid_choice": "Pick one of the listed authentication types."})
    account_types = forms.ChoiceField(
        label="Supported account types (as chosen in the app registration)", widget=forms.RadioSelect,
        choices=[("single", "Accounts in this organizational directory only (single tenant) — recommended"),
                 ("multi", "Accounts in any organizational directory (multitenant)")],
        error_messages={"required": "Pick the account type you chose for the app.",
                        "invalid_choice": "Pick one of the listed account types."})
    app_registered = forms.BooleanField(
        required=False,
        label="I registered the app (or picked an existing one) and, for OAuth 2.0, added the redirect URI above.")

    @staticmethod
    def initial_from(setup: Setup) -> dict:
        return {"auth_type": setup.auth_type, "account_types": "multi" if setup.multi_tenant else "single",
                "app_registered": setup.stage_records.filter(stage="application", valid=True).exists()}

    def clean(self):
        data = super().clean()
        if data.get("auth_type") in (AuthType.OAUTH2, AuthType.S2S) and not data.get("app_registered"):
            self.add_error("app_registered", "Tick this once the app is registered; the next stage needs its "
                                             "client ID and secret.")
        return data

    def changes(self) -> dict[str, Any]:
        return {"auth_type": self.cleaned_data["auth_type"],
                "multi_tenant": self.cleaned_data["account_types"] == "multi"}


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
        value = _plain_text(self.cleaned_data["client_id"].strip(), "client ID").lower().strip("{}")
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
        value = _plain_text(self.cleaned_data["username"].strip(), "user name")
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


class PermissionsForm(StageForm):
    confirmed = forms.BooleanField(
        error_messages={"required": "Tick this once the permission is in place; authorizing fails without it."})

    def __init__(self, data=None, *, setup: Setup, sandbox: dict | None = None):
        super().__init__(data, setup=setup, sandbox=sandbox)
        self.fields["confirmed"].label = {
            AuthType.OAUTH2: "I added Dynamics CRM → Delegated → user_impersonation and an admin granted consent.",
            AuthType.S2S: "I created an application user for this app in the Dataverse environment and gave it a "
                          "security role.",
            AuthType.CUSTOM: "The user has a Dynamics licence and a security role, and signs in without MFA.",
        }[setup.auth_type]

    @staticmethod
    def initial_from(setup: Setup) -> dict:
        return {"confirmed": setup.permissions_confirmed}

    def changes(self) -> dict[str, Any]:
        return {"permissions_confirmed": True}


class ConfirmForm(StageForm):
    """Review and authorize: a bare POST that the view checks; no fields."""


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
    from setup_portal.instances.models import Instance

    value = re.sub(r"\s+", " ", _plain_text(raw, "name")).strip()
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
    tags = normalize_tags(_plain_text(raw, "tags"))
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
        label="Resources to poll", choices=POLLING_RESOURCES, required=False,
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
