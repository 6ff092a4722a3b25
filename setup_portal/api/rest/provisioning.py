"""POST /api/v1/instances: the wizard without a browser, for server-to-server and custom sign-in.

The request runs through the wizard's own stage forms, in order, each recorded as a stage of a
new setup (source "api"), then the same authorization without a browser as stage 7 and the same
`do_finish_setup` as stage 8. Everything happens in one transaction: a value refused at any
stage leaves nothing behind. OAuth 2.0 needs a person to sign in, so for it the API stops
after the review stage and answers with the wizard page that continues.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from setup_portal.azure.actions import do_authorize_without_browser, do_record_setup_authorization
from setup_portal.azure.client import AzureError
from setup_portal.azure.clouds import AuthType
from setup_portal.azure.errors import explain
from setup_portal.dataverse.client import DataverseError
from setup_portal.events import endpoints
from setup_portal.events.models import LIFECYCLE_TYPES
from setup_portal.instances.models import ProvisioningJob
from setup_portal.wizard import actions as wizard
from setup_portal.wizard.forms import (
    AccountForm,
    ApplicationForm,
    EnvironmentForm,
    InstanceForm,
    KeysForm,
    PermissionsForm,
)
from setup_portal.wizard.models import Setup

from ..problems import Problem
from .base import conflict, invalid

SOURCE = "api"


@dataclass
class Outcome:
    setup: Setup
    job: ProvisioningJob | None  # None: OAuth 2.0, continued in the wizard


def _sandbox_info(setup: Setup) -> dict | None:
    if not (settings.SANDBOX_ENABLED and setup.use_sandbox):
        return None
    from setup_portal.sandbox.info import sandbox_info

    return sandbox_info()


def _stage(setup: Setup, stage: str, form_class, data: dict, *, user, started_at, prefix: str = "") -> None:
    """Run one wizard stage's form over `data`; record the stage, or raise 422 with its errors."""
    form = form_class(data, setup=setup, sandbox=_sandbox_info(setup))
    if not form.is_valid():
        raise invalid(form, prefix=prefix)
    if stage == "account" and "team" in data and getattr(form.chosen_team, "pk", None) != data["team"]:
        # The form asks only an admin of several teams; anyone else may name just their own team.
        raise Problem(422, "Some values are not valid.", slug="validation",
                      errors={"team": [form.fields.get("team", AccountForm.base_fields["team"])
                                       .error_messages["invalid_choice"]]})
    wizard.do_complete_stage(setup, stage, changes=form.changes(), started_at=started_at, notes=form.notes(),
                             source=SOURCE, acting_user=user)
    setup.refresh_from_db()


def _credentials(data: dict) -> dict:
    creds = data.get("credentials") or {}
    expires = creds.get("secret_expires_on")
    return {"credential_kind": "secret", "client_id": creds.get("client_id", ""),
            "client_secret": creds.get("client_secret", ""),
            "secret_expires_on": expires.isoformat() if expires else "",
            "username": creds.get("username", ""), "password": creds.get("password", "")}


def _instance_fields(data: dict) -> dict:
    webhooks = data.get("webhooks") or {}
    fields = {"name": data["name"], "tags": ", ".join(data.get("tags") or []),
              "polling_enabled": data["polling_enabled"],
              "polling_resources": data.get("polling_resources", ["accounts", "contacts"]),
              "polling_interval_minutes": data.get("polling_interval_minutes", 15),
              "filter_nulls": data["filter_nulls"], "events_enabled": bool(webhooks.get("enabled")),
              "callback_url": webhooks.get("callback_url", ""),
              "lifecycle_types": webhooks.get("lifecycle_types", list(LIFECYCLE_TYPES))}
    return {name: value for name, value in fields.items() if value is not False}  # unticked boxes are absent


def _authorize(setup: Setup, *, user) -> None:
    """Stage 7 for server-to-server and custom: a token now, as the wizard's Authorize button gets one."""
    try:
        authorization = do_authorize_without_browser(setup, user=user)
    except AzureError as exc:
        if exc.retryable:
            raise Problem(503, f"Azure AD could not be reached ({exc.code}); nothing was created. Try again.",
                          code=exc.code, headers={"Retry-After": "30"}) from None
        raise _refused(exc.code, exc.description) from None
    except DataverseError as exc:
        if exc.retryable:
            raise Problem(503, "Dynamics CRM could not be reached; nothing was created. Try again.",
                          code=exc.catalogue_code, headers={"Retry-After": "30"}) from None
        raise _refused(exc.catalogue_code, exc.message) from None
    do_record_setup_authorization(setup, authorization=authorization, flow=None, acting_user=user)


def _refused(code: str, description: str) -> Problem:
    explanation = explain(code)
    return Problem(422, f"Signing in with these credentials failed: {explanation.title} ({code}). "
                        f"{description}".strip(), slug="credentials-refused", code=code,
                   fix=explanation.what_to_do, errors={"credentials": [explanation.title]})


@transaction.atomic
def provision(data: dict, *, user, api_key_prefix: str = "") -> Outcome:
    """Validate `data` (InstanceCreateIn's) stage by stage; create the setup, and for server-to-server
    and custom sign-in also the instance and its provisioning job (enqueued once this commits).
    The job remembers the API key that started it, whose next look at the finished job gets the token."""
    started_at = timezone.now()
    setup = wizard.do_create_setup(acting_user=user)
    account = {"dynamics_account": True, "consent_admin": True, "register_app": True}
    if "team" in data:  # asked for (and checked) only when the caller is an admin of several teams
        account["team"] = data["team"]
    _stage(setup, "account", AccountForm, account, user=user, started_at=started_at)
    _stage(setup, "environment", EnvironmentForm,
           {k: data[k] for k in ("dynamics_url", "tenant", "cloud")}, user=user, started_at=started_at)
    _stage(setup, "application", ApplicationForm,
           {"auth_type": data["auth_type"], "account_types": "multi" if data["multi_tenant"] else "single",
            "app_registered": True}, user=user, started_at=started_at)
    _stage(setup, "keys", KeysForm, _credentials(data), user=user, started_at=started_at, prefix="credentials.")
    _stage(setup, "permissions", PermissionsForm, {"confirmed": True}, user=user, started_at=started_at)
    wizard.do_complete_stage(setup, "review", changes={}, started_at=started_at, source=SOURCE, acting_user=user)
    instance_form = InstanceForm(_instance_fields(data), setup=setup)
    if not instance_form.is_valid():  # checked before signing in, so a bad name costs no token request
        raise invalid(instance_form)
    if setup.auth_type == AuthType.OAUTH2:
        return Outcome(setup, None)
    _authorize(setup, user=user)
    setup.refresh_from_db()
    try:
        with transaction.atomic():
            job = wizard.do_finish_setup(setup, settings=instance_form.settings(), started_at=started_at,
                                         acting_user=user)
    except IntegrityError:  # another instance took the name between the check and the insert
        raise conflict({"name": ["An instance with this name was just created. Pick another name."]}) from None
    if api_key_prefix:
        job.api_key_prefix = api_key_prefix
        job.save(update_fields=["api_key_prefix"])
    if instance_form.cleaned_data["events_enabled"]:
        endpoints.do_update_endpoint(job.instance, **instance_form.endpoint_settings(), acting_user=user)
    return Outcome(setup, job)
