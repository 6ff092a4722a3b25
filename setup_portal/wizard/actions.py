"""Wizard actions: every change to a setup goes through here, atomic and audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.azure.certificates import Certificate, CredentialKind, generate_certificate
from setup_portal.azure.clouds import AuthType, Cloud
from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.crypto import mask
from setup_portal.teams.models import Membership, Team, roles_of

from .models import Setup, StageRecord
from .stages import STAGES, next_stage, position

# Secret fields and the hint field that identifies each without revealing it (a certificate's
# private key is identified by its certificate's thumbprint, which the changes bring along).
SECRET_HINTS = {"client_secret": "secret_hint", "password": "password_hint",
                "certificate_key": "certificate_thumbprint"}
# Typed but never recorded with an attempt; and values too bulky for a stage record (the thumbprint names it).
UNRECORDED = {"certificate_password", "certificate_pem"}
# A change to any of these voids the authorization: the token was granted for the old values.
AUTHORIZATION_FIELDS = {"dynamics_url", "tenant", "cloud", "auth_type", "client_id", "username", "use_sandbox"}
# Later stages that must be done again when a field changes (review and authorize are handled apart).
VOIDS: dict[str, set[str]] = {
    "tenant": {"keys", "permissions"},  # the app registration lives in the directory
    "cloud": {"keys", "permissions"},
    "use_sandbox": {"keys", "permissions"},
    "dynamics_url": {"permissions"},  # consent is for <dynamics url>/user_impersonation
    "auth_type": {"keys", "permissions"},  # other credentials, other permissions
    "client_id": {"permissions"},  # consent is per app
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _stage_values(setup: Setup, fields: list[str], changed: list[str]) -> dict:
    """What a stage record keeps: the stage's values, secrets only as hint and "changed"."""
    values: dict[str, Any] = {}
    for field in fields:
        if field in UNRECORDED:
            continue
        if field in SECRET_HINTS:
            values[SECRET_HINTS[field]] = getattr(setup, SECRET_HINTS[field])
            values[f"{field}_changed"] = field in changed
        else:
            values[field] = _jsonable(getattr(setup, field))
    return values


@transaction.atomic
def do_create_setup(*, acting_user, team: Team | None = None) -> Setup:
    """A new draft in `team`; without one, in the first team the user is an admin of (the
    Default team for a superuser in none)."""
    if team is None:
        admin_teams = sorted(roles_of(acting_user).items())
        team_id = next((pk for pk, role in admin_teams if role == Membership.Role.ADMIN), None)
        team = Team.objects.get(pk=team_id) if team_id else Team.objects.default()
    setup = Setup.objects.create(owner=acting_user, team=team)
    record("setup.created", setup, actor=acting_user)
    return setup


@transaction.atomic
def do_complete_stage(setup: Setup, stage: str, *, changes: dict[str, Any], started_at: dt.datetime | None,
                      notes: list[str] | None = None, source: str = "form", acting_user) -> StageRecord:
    """Apply a valid stage's values, void the later stages they affect, and record the stage.

    `changes` maps Setup fields to new values; an omitted secret keeps the stored one.
    """
    setup = Setup.objects.select_for_update().get(pk=setup.pk)
    changed = [field for field, value in changes.items() if getattr(setup, field) != value]
    for field in changed:
        setattr(setup, field, changes[field])
        if field in SECRET_HINTS and SECRET_HINTS[field] not in changes:
            setattr(setup, SECRET_HINTS[field], mask(changes[field]))

    voided: set[str] = set()
    for field in changed:
        voided |= VOIDS.get(field, set())
    if changed and stage in {reviewed.key for reviewed in STAGES.reviewed}:
        voided.add("review")
    if AUTHORIZATION_FIELDS.intersection(changed) and setup.authorized_at:
        setup.authorized_at = None
        voided.add("authorize")
    now = timezone.now()
    if voided:
        StageRecord.objects.filter(setup=setup, stage__in=voided, invalidated_at__isnull=True).update(
            invalidated_at=now)
    setup.current_stage = next_stage(stage)
    setup.save()

    started_at = started_at or now
    values = _stage_values(setup, list(changes), changed)
    values["source"] = source
    stage_record = StageRecord.objects.create(
        setup=setup, stage=stage, user=acting_user, values=values, started_at=started_at,
        duration_ms=max(0, int((now - started_at).total_seconds() * 1000)), valid=True, messages=list(notes or []),
    )
    record("setup.stage_completed", setup, actor=acting_user,
           data={"stage": stage, "changed": changed, "invalidated": sorted(voided), "source": source})
    return stage_record


def do_record_failed_stage(setup: Setup, stage: str, *, values: dict[str, str], errors: list[str],
                           started_at: dt.datetime | None, acting_user) -> StageRecord:
    """Keep the attempt (never its secrets) so the record shows what went wrong and when."""
    now = timezone.now()
    started_at = started_at or now
    clean = {key: str(value)[:200] for key, value in values.items()
             if key not in SECRET_HINTS and key not in UNRECORDED and key != "csrfmiddlewaretoken"}
    return StageRecord.objects.create(
        setup=setup, stage=stage, user=acting_user, values=clean, started_at=started_at,
        duration_ms=max(0, int((now - started_at).total_seconds() * 1000)), valid=False, messages=errors[:20],
    )


@transaction.atomic
def do_record_setup_authorization(setup: Setup, *, authorization: Authorization, flow: AuthFlow | None,
                                  acting_user) -> Setup:
    """Stage 7 done: the setup is authorized, the stage is recorded (who, when, how long), audited."""
    do_complete_stage(setup, "authorize", changes={"authorized_at": authorization.created_at},
                      started_at=flow.created_at if flow else None, source="azure", acting_user=acting_user)
    record("setup.authorized", setup, actor=acting_user,
           data={"authorization": authorization.pk, "auth_type": setup.auth_type,
                 "signed_in_as": authorization.claims.get("preferred_username", ""),
                 "tenant": authorization.claims.get("tid", setup.tenant)})
    setup.refresh_from_db()
    return setup


@transaction.atomic
def do_discard_setup(setup: Setup, *, acting_user) -> None:
    setup.status = Setup.Status.DISCARDED
    # Nothing of a discarded draft is needed again; drop the secrets rather than keep them encrypted.
    setup.client_secret = ""
    setup.password = ""
    setup.certificate_key = ""
    setup.save(update_fields=["status", "client_secret", "password", "certificate_key", "updated_at"])
    record("setup.discarded", setup, actor=acting_user)


@transaction.atomic
def do_generate_setup_certificate(setup: Setup, *, acting_user) -> Certificate:
    """A new key pair and self-signed certificate for the setup's app, replacing any before it.

    The Keys stage is done again afterwards: the saved stage vouched for the old credential,
    and the new certificate works only once it is uploaded to the app registration.
    """
    setup = Setup.objects.select_for_update().get(pk=setup.pk)
    certificate = generate_certificate(f"Dynamics CRM Setup Portal {str(setup.pk)[:8]}")
    setup.credential_kind = CredentialKind.CERTIFICATE
    setup.certificate_pem = certificate.certificate_pem
    setup.certificate_key = certificate.private_key_pem
    setup.certificate_thumbprint = certificate.thumbprint
    if setup.current_stage in STAGES and position(setup.current_stage) > position("keys"):
        setup.current_stage = "keys"
    setup.save(update_fields=["credential_kind", "certificate_pem", "certificate_key", "certificate_thumbprint",
                              "current_stage", "updated_at"])
    StageRecord.objects.filter(setup=setup, stage__in=["keys", "review"], invalidated_at__isnull=True).update(
        invalidated_at=timezone.now())
    record("setup.certificate_generated", setup, actor=acting_user,
           data={"thumbprint": certificate.thumbprint, "expires_on": certificate.expires_on.isoformat()})
    return certificate


def sandbox_key_changes(info: dict, auth_type: str) -> dict[str, Any]:
    """Stage 4 values for the sandbox tenant, for the chosen authentication type."""
    expires = dt.date.fromisoformat(info["client_secret_expires"][:10])
    if auth_type == AuthType.CUSTOM:
        return {"client_id": info["public_client_id"], "username": info["username"], "password": info["password"]}
    if auth_type == AuthType.S2S:
        return {"client_id": info["s2s_client_id"], "client_secret": info["s2s_client_secret"],
                "secret_expires_on": expires}
    return {"client_id": info["client_id"], "client_secret": info["client_secret"], "secret_expires_on": expires}


@transaction.atomic
def do_fill_from_sandbox(setup: Setup, info: dict, *, acting_user) -> Setup:
    """Fill stages 1-5 with the sandbox tenant's values, one stage record each, and stop at review.

    `info` is `setup_portal.sandbox.info.sandbox_info()`; the URL still passes the same guard
    as a typed one, so a sandbox that moved ports is refused rather than trusted.
    """
    from setup_portal.dataverse.dynamics_url import normalize_dynamics_url

    parsed = normalize_dynamics_url(info["dynamics_url"], sandbox_allowed=True)
    auth_type = setup.auth_type or AuthType.OAUTH2
    stages = [
        ("account", {"prerequisites": {"dynamics_account": True, "consent_admin": True, "register_app": True}}),
        ("environment", {"dynamics_url": parsed.url, "region": parsed.region, "cloud": Cloud.PUBLIC,
                         "tenant": info["tenant_id"], "use_sandbox": True}),
        ("application", {"auth_type": auth_type, "multi_tenant": False}),
        ("keys", sandbox_key_changes(info, auth_type)),
        ("permissions", {"permissions_confirmed": True}),
    ]
    now = timezone.now()
    for stage, changes in stages:
        do_complete_stage(setup, stage, changes=changes, started_at=now, source="sandbox", acting_user=acting_user)
    setup.refresh_from_db()
    return setup


@transaction.atomic
def do_complete_last_stage(setup: Setup, stage: str, *, settings: dict, started_at: dt.datetime | None,
                           acting_user) -> StageRecord:
    """Keep the last stage's values with the setup (instance_settings) and record the stage done.

    The stage itself (stage 8, "Create instance") belongs to the instances app, which calls this
    before it creates the instance from the setup.
    """
    now = timezone.now()
    started_at = started_at or now
    Setup.objects.filter(pk=setup.pk).update(instance_settings=settings)
    return StageRecord.objects.create(setup=setup, stage=stage, user=acting_user,
                                      values={**settings, "source": "form"}, started_at=started_at,
                                      duration_ms=max(0, int((now - started_at).total_seconds() * 1000)), valid=True)


@transaction.atomic
def do_create_filled_setup(*, team_id: int, fields: dict[str, Any], instance_settings: dict, source: str,
                           acting_user, audit_data: dict) -> Setup:
    """A new setup with what carries over from elsewhere filled in (a promotion: instances/creation.py).

    `fields` are the Setup's own values; its account stage counts as done, and it starts at the
    environment stage, where what differs is asked again.
    """
    setup = Setup.objects.create(owner=acting_user, team_id=team_id, current_stage="environment",
                                 instance_settings=instance_settings, **fields)
    StageRecord.objects.create(setup=setup, stage="account", user=acting_user, started_at=timezone.now(),
                               values={**setup.prerequisites, "source": source}, valid=True)
    record("setup.created", setup, actor=acting_user, data=audit_data)
    return setup
