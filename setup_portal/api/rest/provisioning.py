"""POST /api/v1/instances: the wizard without a browser, for server-to-server and custom sign-in.

The request runs through the forms of the wizard's stages that take values, in the catalogue's
order (wizard/stages.py), each recorded as a stage of a new setup (source "api"), then the same
authorization without a browser as stage 7 and the same `do_finish_setup` as stage 8.
Everything happens in one transaction: a value refused at any stage leaves nothing behind.
OAuth 2.0 needs a person to sign in, so for it the API stops after the review stage and answers
with the wizard page that continues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from setup_portal.azure.certificates import Certificate, CredentialKind
from setup_portal.azure.client import AzureError
from setup_portal.azure.clouds import AuthType
from setup_portal.azure.errors import explain
from setup_portal.azure.flows import do_authorize_without_browser
from setup_portal.dataverse.client import DataverseError
from setup_portal.events import endpoints
from setup_portal.events.models import LifecycleType
from setup_portal.instances.creation import do_finish_setup
from setup_portal.instances.models import ProvisioningJob
from setup_portal.wizard import actions as wizard
from setup_portal.wizard.models import Setup
from setup_portal.wizard.stages import STAGES, Stage, sandbox_values

from ..problems import Problem
from .base import conflict, invalid
from .fields import file_bytes

SOURCE = "api"


@dataclass
class Outcome:
    setup: Setup
    job: ProvisioningJob | None  # None: OAuth 2.0, continued in the wizard, or a certificate to upload first
    certificate: Certificate | None = None  # generated: its public part goes to the app registration


def _stage(setup: Setup, stage: Stage, data: dict, *, user, started_at, prefix: str = "",
           files: dict | None = None) -> None:
    """Run one wizard stage's form over `data`; record the stage, or raise 422 with its errors."""
    form_class = stage.form
    form = (form_class(data, setup=setup, sandbox=sandbox_values(setup), files=files) if files is not None else
            form_class(data, setup=setup, sandbox=sandbox_values(setup)))
    if not form.is_valid():
        raise invalid(form, prefix=prefix, names=API_NAMES)
    if stage.key == "account" and "team" in data and getattr(form.chosen_team, "pk", None) != data["team"]:
        # The form asks only an admin of several teams; anyone else may name just their own team.
        raise Problem(422, "Some values are not valid.", slug="validation",
                      errors={"team": [form.fields.get("team", form_class.base_fields["team"])
                                       .error_messages["invalid_choice"]]})
    wizard.do_complete_stage(setup, stage.key, changes=form.changes(), started_at=started_at, notes=form.notes(),
                             source=SOURCE, acting_user=user)
    setup.refresh_from_db()


# The Keys stage's field names as the API calls them.
API_NAMES = {"certificate_file": "certificate"}


def _credentials(data: dict) -> tuple[dict, dict]:
    """The Keys stage's form data and files: a certificate sent as base64 is uploaded as the page's file is."""
    creds = data.get("credentials") or {}
    expires = creds.get("secret_expires_on")
    values = {"credential_kind": creds.get("credential_kind", CredentialKind.SECRET),
              "client_id": creds.get("client_id", ""), "client_secret": creds.get("client_secret", ""),
              "secret_expires_on": expires.isoformat() if expires else "",
              "certificate_password": creds.get("certificate_password", ""),
              "username": creds.get("username", ""), "password": creds.get("password", "")}
    files = {}
    if "certificate" in creds:
        files["certificate_file"] = SimpleUploadedFile("certificate", file_bytes(creds["certificate"]))
    return values, files


def wants_generated_certificate(data: dict) -> bool:
    creds = data.get("credentials") or {}
    return creds.get("credential_kind") == CredentialKind.CERTIFICATE and bool(creds.get("generate"))


def _stage_values(data: dict) -> dict[str, Callable[[], dict]]:
    """For each stage that takes values: its form's data from the request (and files, and the prefix
    its errors get), read when the stage's turn comes."""

    def account() -> dict:
        values = {"dynamics_account": True, "consent_admin": True, "register_app": True}
        if "team" in data:  # asked for (and checked) only when the caller is an admin of several teams
            values["team"] = data["team"]
        return {"data": values}

    def keys() -> dict:
        values, files = _credentials(data)
        return {"data": values, "files": files, "prefix": "credentials."}

    return {
        "account": account,
        "environment": lambda: {"data": {k: data[k] for k in ("dynamics_url", "tenant", "cloud")}},
        "application": lambda: {"data": {"auth_type": data["auth_type"], "app_registered": True,
                                         "account_types": "multi" if data["multi_tenant"] else "single"}},
        "keys": keys,
        "permissions": lambda: {"data": {"confirmed": True}},
    }


def _instance_fields(data: dict) -> dict:
    webhooks = data.get("webhooks") or {}
    fields = {"name": data["name"], "tags": ", ".join(data.get("tags") or []),
              "polling_enabled": data["polling_enabled"],
              "polling_resources": data.get("polling_resources", ["accounts", "contacts"]),
              "polling_interval_minutes": data.get("polling_interval_minutes", 15),
              "filter_nulls": data["filter_nulls"], "events_enabled": bool(webhooks.get("enabled")),
              "callback_url": webhooks.get("callback_url", ""),
              "lifecycle_types": webhooks.get("lifecycle_types", list(LifecycleType.values))}
    return {name: value for name, value in fields.items() if value is not False}  # unticked boxes are absent


def _authorize(setup: Setup, *, user) -> None:
    """Stage 7 for server-to-server and custom: a token now, as the wizard's Authorize button gets one."""
    try:
        authorization = do_authorize_without_browser(user=user, setup=setup)
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
    wizard.do_record_setup_authorization(setup, authorization=authorization, flow=None, acting_user=user)


def _refused(code: str, description: str) -> Problem:
    explanation = explain(code)
    return Problem(422, f"Signing in with these credentials failed: {explanation.title} ({code}). "
                        f"{description}".strip(), slug="credentials-refused", code=code,
                   fix=explanation.what_to_do, errors={"credentials": [explanation.title]})


@transaction.atomic
def provision(data: dict, *, user, api_key_prefix: str = "", setup: Setup | None = None) -> Outcome:
    """Validate `data` (InstanceCreateIn's) stage by stage; create the setup (or go on with `setup`, one
    that generated its certificate), and for server-to-server and custom sign-in also the instance and its
    provisioning job (enqueued once this commits).
    The job remembers the API key that started it, whose next look at the finished job gets the token.

    With `generate`, the portal makes the key pair after the application stage and stops there, as the
    wizard's Keys page does: Azure AD can check the certificate only once it is uploaded to the app."""
    started_at = timezone.now()
    setup = setup or wizard.do_create_setup(acting_user=user)
    values = _stage_values(data)
    for stage in STAGES.reviewed:  # the stages whose forms take values, in the wizard's order
        if stage.key == "keys" and wants_generated_certificate(data):
            if setup.auth_type == AuthType.CUSTOM:
                raise Problem(422, "Some values are not valid.", slug="validation",
                              errors={"credentials.generate": ["Custom sign-in uses a user's name and password, "
                                                               "not a certificate."]})
            return Outcome(setup, None, certificate=wizard.do_generate_setup_certificate(setup, acting_user=user))
        _stage(setup, stage, user=user, started_at=started_at, **values[stage.key]())
    wizard.do_complete_stage(setup, "review", changes={}, started_at=started_at, source=SOURCE, acting_user=user)
    instance_form = STAGES["instance"].form(_instance_fields(data), setup=setup)
    if not instance_form.is_valid():  # checked before signing in, so a bad name costs no token request
        raise invalid(instance_form)
    if setup.auth_type == AuthType.OAUTH2:
        return Outcome(setup, None)
    _authorize(setup, user=user)
    setup.refresh_from_db()
    try:
        with transaction.atomic():
            job = do_finish_setup(setup, settings=instance_form.settings(), started_at=started_at, acting_user=user)
    except IntegrityError:  # another instance took the name between the check and the insert
        raise conflict({"name": ["An instance with this name was just created. Pick another name."]}) from None
    if api_key_prefix:
        job.api_key_prefix = api_key_prefix
        job.save(update_fields=["api_key_prefix"])
    if instance_form.cleaned_data["events_enabled"]:
        endpoints.do_update_endpoint(job.instance, **instance_form.endpoint_settings(), acting_user=user)
    return Outcome(setup, job)
