"""What the portal records about Azure AD: requests sent (flows), answers, authorizations.

The client (client.py) talks to Azure AD and touches no rows; these functions save what
it returns and hand the result to the wizard or the instance.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.dataverse import client as dataverse
from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl, normalize_dynamics_url
from setup_portal.instances.actions import do_reauthenticate_instance
from setup_portal.instances.models import Instance
from setup_portal.wizard.actions import do_complete_stage
from setup_portal.wizard.models import Setup

from . import client
from .client import AzureError, Credentials, TokenResult
from .clouds import AuthType
from .discovery import complete_discovery
from .models import AuthFlow, Authorization

# How long an answer from Azure AD is awaited: codes live about ten minutes anyway.
FLOW_LIFETIME = timedelta(minutes=10)
# Every state the portal issues is secrets.token_urlsafe(); anything else was never issued and is
# not looked up (PostgreSQL refuses a NUL byte in a query parameter with an error, not "no rows").
ISSUED_STATE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def do_start_authorization(*, user, setup: Setup | None = None, instance: Instance | None = None,
                           redirect_uri: str) -> str:
    """Begin the OAuth dance for a setup (stage 7) or an instance (re-authentication).

    The msal flow (PKCE verifier, state, nonce) is kept server-side, encrypted, keyed by
    state and bound to `user`; returns the URL to send the browser to.
    """
    flow = client.start_auth_code_flow(Credentials.of(setup if setup is not None else instance),
                                       redirect_uri=redirect_uri)
    AuthFlow.objects.create(
        state=flow["state"], user=user, setup=setup, instance=instance,
        purpose=AuthFlow.Purpose.SETUP if setup is not None else AuthFlow.Purpose.REAUTH,
        flow=json.dumps(flow), expires_at=timezone.now() + FLOW_LIFETIME,
    )
    return flow["auth_uri"]


def do_start_admin_consent(setup: Setup, *, redirect_uri: str, acting_user) -> str:
    """Ask Azure AD for admin consent with a random, single-use state of `acting_user`; returns the URL."""
    state = secrets.token_urlsafe(32)
    url = client.admin_consent_link(cloud=setup.cloud, tenant=setup.tenant, use_sandbox=setup.use_sandbox,
                                    client_id=setup.client_id, dynamics_url=setup.dynamics_url,
                                    redirect_uri=redirect_uri, state=state)
    AuthFlow.objects.create(state=state, user=acting_user, setup=setup, purpose=AuthFlow.Purpose.ADMIN_CONSENT,
                            expires_at=timezone.now() + FLOW_LIFETIME)
    return url


def claim_flow(*, user, state: str, purposes: set[str]) -> AuthFlow:
    """Consume the pending flow for `state` exactly once, or raise AzureError saying why not.

    The state is the credential here (the session cookie may be missing on the way back);
    a signed-in user other than the one who started the flow is refused.
    """
    now = timezone.now()
    flow = (AuthFlow.objects.select_related("setup", "instance", "user")
            .filter(state=state, purpose__in=purposes).first() if ISSUED_STATE.fullmatch(state) else None)
    if flow is None:
        raise AzureError("state_unknown", "No authorization request matches this state.")
    if user.is_authenticated and user.pk != flow.user_id:
        raise AzureError("state_other_user", "The authorization request belongs to another user.")
    if flow.consumed_at is not None:
        raise AzureError("state_replayed", "This authorization answer was already used.")
    if flow.expires_at <= now:
        raise AzureError("state_expired", "The authorization request has expired.")
    # The PKCE verifier and nonce are needed once, for this answer: the row forgets them as it is claimed.
    if AuthFlow.objects.filter(pk=state, consumed_at__isnull=True).update(consumed_at=now, flow="") != 1:
        raise AzureError("state_replayed", "This authorization answer was already used.")
    flow.consumed_at = now
    return flow


def do_complete_authorization(*, user, answer: dict) -> AuthFlow:
    """Take Azure AD's answer to a sign-in: redeem the code, verify the id_token, record the outcome.

    Raises AzureError when the answer matches no pending flow of `user` (nothing is recorded
    then). Otherwise returns the flow with its outcome saved: `authorization` (the setup is
    authorized, or the instance re-authenticated) or `error_code` / `error_detail`.
    """
    flow = claim_flow(user=user, state=str(answer.get("state", "")),
                      purposes={AuthFlow.Purpose.SETUP, AuthFlow.Purpose.REAUTH, AuthFlow.Purpose.DISCOVERY})
    if flow.purpose == AuthFlow.Purpose.DISCOVERY:
        return complete_discovery(flow, answer)
    try:
        if answer.get("error"):
            raise client.error_from_redirect(answer)
        result = client.redeem_auth_code(Credentials.of(flow.setup or flow.instance),
                                         flow=json.loads(str(flow.flow)), answer=answer)
    except AzureError as exc:
        flow.error_code, flow.error_detail = exc.code[:64], exc.description[:300]
        flow.save(update_fields=["error_code", "error_detail"])
        return flow
    with transaction.atomic():
        flow.authorization = _create_authorization(result, user=flow.user, setup=flow.setup, instance=flow.instance)
        flow.save(update_fields=["authorization"])
        if flow.purpose == AuthFlow.Purpose.REAUTH:
            do_reauthenticate_instance(flow.instance, authorization=flow.authorization, acting_user=flow.user)
        else:
            do_record_setup_authorization(flow.setup, authorization=flow.authorization, flow=flow,
                                          acting_user=flow.user)
    return flow


def do_complete_admin_consent(*, user, answer: dict) -> Setup:
    """Azure AD's answer to an admin-consent request of `user`: audited when granted.

    Raises AzureError for a state that is not a pending admin-consent request of `user`, and
    for a refusal (the setup is on the error then, for the "fix it" link).
    """
    flow = claim_flow(user=user, state=str(answer.get("state", "")), purposes={AuthFlow.Purpose.ADMIN_CONSENT})
    if answer.get("error"):
        exc = client.error_from_redirect(answer)
    elif str(answer.get("admin_consent", "")).lower() != "true":
        exc = AzureError("AADSTS65001", "Azure AD did not confirm the consent.")
    else:
        record("setup.admin_consent_granted", flow.setup, actor=user,
               data={"tenant": str(answer.get("tenant", ""))[:64]})
        return flow.setup
    flow.error_code, flow.error_detail = exc.code[:64], exc.description[:300]
    flow.save(update_fields=["error_code", "error_detail"])
    raise exc


def do_authorize_without_browser(source: Setup | Instance, *, user) -> Authorization:
    """Stage 7 (or re-authentication) for server-to-server and custom: get a token now and keep its cache.

    Server-to-server also asks Dataverse who it is: an app token is issued whether or not
    the environment knows the app, so a missing application user shows up here (403) and
    not after Create. Raises AzureError or dataverse.DataverseError.
    """
    creds = Credentials.of(source)
    if creds.auth_type == AuthType.S2S:
        result = client.acquire_token_for_client(creds)
        dataverse.who_am_i(_checked_dynamics_url(source), result.access_token)
    else:
        result = client.acquire_token_by_password(creds)
    instance = source if isinstance(source, Instance) else None
    return _create_authorization(result, user=user, setup=None if instance else source, instance=instance)


def _checked_dynamics_url(source: Setup | Instance) -> str:
    """The Dynamics URL, re-checked right before a token is sent to it (the SSRF guard)."""
    try:
        return normalize_dynamics_url(source.dynamics_url,
                                      sandbox_allowed=settings.SANDBOX_ENABLED and source.use_sandbox).url
    except InvalidDynamicsUrl as exc:
        raise AzureError("invalid_dynamics_url", exc.message) from None


def _create_authorization(result: TokenResult, *, user, setup: Setup | None,
                          instance: Instance | None) -> Authorization:
    return Authorization.objects.create(
        setup=setup, instance=instance, user=user, token_cache=result.cache, home_account_id=result.home_account_id,
        claims=result.claims, scopes=result.scopes, access_token_expires_at=result.expires_at,
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
