"""The named steps that turn an authorized instance into a Ready one.

Each runner takes the instance, talks to Azure AD / Dataverse through their client
modules, stores what it learned, and returns a one-line detail for the progress page.
A runner signals failure by raising AzureError, DataverseError or StepFailed, and
"nothing to do" by raising StepSkipped; the task in tasks.py decides about retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from setup_portal.azure.client import AzureError
from setup_portal.crm.resources import RESOURCES
from setup_portal.dataverse import client as dataverse
from setup_portal.dataverse.client import DataverseError
from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl, normalize_dynamics_url

from . import state
from .models import Instance
from .tokens import acquire_token_for_instance

STEPS: list[tuple[str, str]] = [
    ("acquire_token", "Get an access token"),
    ("whoami", "Identify the signed-in user (WhoAmI)"),
    ("organization", "Read the organization's details"),
    ("permission_probe", "Check read permission (one account)"),
    ("polling_config", "Check the event polling configuration"),
    ("health_check", "Final health check"),
]
STEP_KEYS = [key for key, _ in STEPS]
STEP_LABELS = dict(STEPS)

# Polling resources the wizard offers -> the Dataverse entity (logical name) each one reads.
POLLING_ENTITIES = {r.name: r.logical_name for r in RESOURCES.values()}


class StepFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class StepSkipped(Exception):
    pass


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    retryable: bool
    retry_after: float | None


def classify(exc: Exception) -> Failure:
    """What went wrong, in the catalogue's terms, and whether trying again may help."""
    if isinstance(exc, AzureError):
        return Failure(exc.code, exc.description or exc.code, exc.retryable, exc.retry_after)
    if isinstance(exc, DataverseError):
        return Failure(exc.catalogue_code, exc.message, exc.retryable, exc.retry_after)
    if isinstance(exc, StepFailed):
        return Failure(exc.code, exc.message, False, None)
    return Failure("internal_error", "The portal hit an unexpected error while running this step.", False, None)


def checked_url(instance: Instance) -> str:
    """The instance's Dynamics URL, re-checked right before a token is sent to it (SSRF guard).

    Provisioning and keep-alive both call it before every Dataverse call.
    """
    try:
        return normalize_dynamics_url(instance.dynamics_url,
                                      sandbox_allowed=settings.SANDBOX_ENABLED and instance.use_sandbox).url
    except InvalidDynamicsUrl as exc:
        if instance.use_sandbox and not settings.SANDBOX_ENABLED:
            raise StepFailed("sandbox_disabled", "This instance uses the sandbox tenant, which is switched off "
                                                 "on this portal.") from None
        raise StepFailed("invalid_dynamics_url", exc.message) from None


def _token(instance: Instance) -> str:
    return acquire_token_for_instance(instance).access_token


def run_acquire_token(instance: Instance) -> str:
    checked_url(instance)
    result = acquire_token_for_instance(instance)
    origin = "from the saved sign-in" if result.source == "cache" else "from Azure AD"
    return f"Access token {origin}, valid until {result.expires_at:%H:%M} UTC."


def run_whoami(instance: Instance) -> str:
    ids = dataverse.who_am_i(checked_url(instance), _token(instance))
    state.record_identity(instance, user_id=ids["UserId"], business_unit_id=ids["BusinessUnitId"],
                          organization_id=ids["OrganizationId"])
    return f"User {ids['UserId']} in business unit {ids['BusinessUnitId']}."


def run_organization(instance: Instance) -> str:
    org = dataverse.current_organization(checked_url(instance), _token(instance))
    state.record_organization(instance, name=org["name"][:200], version=org["version"][:32],
                              environment_type=org["organization_type"][:32])
    kind = f" ({org['organization_type']} environment)" if org["organization_type"] else ""
    return f"{org['name'] or 'Organization'}, version {org['version'] or 'unknown'}{kind}."


def run_permission_probe(instance: Instance) -> str:
    dataverse.probe_accounts(checked_url(instance), _token(instance))
    return "Reading accounts works."


def run_polling_config(instance: Instance) -> str:
    if not instance.polling_enabled:
        raise StepSkipped("Event polling is off for this instance.")
    wanted = {r: POLLING_ENTITIES.get(r, r) for r in instance.polling_resources}
    available = dataverse.entity_set_names(checked_url(instance), _token(instance))
    missing = sorted(r for r, entity in wanted.items() if entity not in available and r not in available)
    if missing:
        raise StepFailed("polling_resource_missing",
                         "Not found in this environment: " + ", ".join(missing) + ".")
    return (f"Polling {', '.join(sorted(wanted)) or 'nothing'} every "
            f"{instance.polling_interval_minutes} minutes.")


def run_health_check(instance: Instance) -> str:
    started = time.monotonic()
    dataverse.who_am_i(checked_url(instance), _token(instance))
    duration_ms = int((time.monotonic() - started) * 1000)
    state.record_health_check(instance.pk, ok=True, detail="WhoAmI answered during provisioning.",
                              duration_ms=duration_ms, acting_user=None)
    return f"WhoAmI answered in {duration_ms} ms."


RUNNERS: dict[str, Callable[[Instance], str]] = {
    "acquire_token": run_acquire_token,
    "whoami": run_whoami,
    "organization": run_organization,
    "permission_probe": run_permission_probe,
    "polling_config": run_polling_config,
    "health_check": run_health_check,
}
