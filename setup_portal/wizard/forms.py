"""The wizard's stage forms. Each turns valid input into `changes()` for the Setup, and `notes()` warnings.

The Keys stage's form is in keys_form.py; stage 8's (the instance's settings) belongs to the instances app.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from setup_portal.azure import discovery
from setup_portal.azure.clouds import AuthType, Cloud, InvalidTenant, normalize_tenant
from setup_portal.dataverse.dynamics_url import SANDBOX_REGION, InvalidDynamicsUrl, normalize_dynamics_url
from setup_portal.teams import permissions
from setup_portal.teams.models import Team

from .models import Setup


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
