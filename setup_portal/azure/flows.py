"""Sign-in requests to Azure AD and what they give: start one, claim its answer once, or get a token now.

The client (client.py) talks to Azure AD and touches no rows; these functions keep the requests
(AuthFlow) and the authorizations they produce. What an authorization then does for a setup or an
instance is decided above (setup_portal.signin).
"""

from __future__ import annotations

import json
import re
import secrets

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from setup_portal.dataverse import client as dataverse
from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl, normalize_dynamics_url

from . import client
from .client import AzureError, Credentials, TokenResult
from .clouds import AuthType
from .models import FLOW_LIFETIME, AuthFlow, Authorization

# Every state the portal issues is secrets.token_urlsafe(); anything else was never issued and is
# not looked up (PostgreSQL refuses a NUL byte in a query parameter with an error, not "no rows").
ISSUED_STATE = re.compile(r"[A-Za-z0-9_-]{1,64}")
LOOPBACK_HOSTS = {"127.0.0.1", "[::1]"}


def redirect_uri_for(request: HttpRequest) -> str:
    """The redirect URI registered with Azure AD: PORTAL_BASE_URL + /azure/callback/.

    A request that reached the portal on a loopback address (tests, end-to-end runs, a
    second local portal on another port) uses its own origin instead: Azure AD and the
    sandbox accept any port on a loopback redirect URI, and the browser must come back
    to the server that holds this run's data.
    """
    if request.get_host().rsplit(":", 1)[0] in LOOPBACK_HOSTS:
        return request.build_absolute_uri("/azure/callback/")
    return settings.PORTAL_BASE_URL + "/azure/callback/"


def do_start_authorization(*, user, setup: models.Model | None = None, instance: models.Model | None = None,
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


def do_start_admin_consent(setup: models.Model, *, redirect_uri: str, acting_user) -> str:
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


def redeem_answer(flow: AuthFlow, answer: dict) -> TokenResult:
    """Azure AD's answer to a claimed setup or re-authentication flow: the code redeemed, the id_token verified.

    Raises AzureError for a refusal in the answer or from the token endpoint.
    """
    if answer.get("error"):
        raise client.error_from_redirect(answer)
    return client.redeem_auth_code(Credentials.of(flow.setup or flow.instance),
                                   flow=json.loads(str(flow.flow)), answer=answer)


def do_authorize_without_browser(*, user, setup: models.Model | None = None,
                                 instance: models.Model | None = None) -> Authorization:
    """Stage 7 (or re-authentication) for server-to-server and custom: get a token now and keep its cache.

    Server-to-server also asks Dataverse who it is: an app token is issued whether or not
    the environment knows the app, so a missing application user shows up here (403) and
    not after Create. Raises AzureError or dataverse.DataverseError.
    """
    source = setup if setup is not None else instance
    creds = Credentials.of(source)
    if creds.auth_type == AuthType.S2S:
        result = client.acquire_token_for_client(creds)
        dataverse.who_am_i(_checked_dynamics_url(source), result.access_token)
    else:
        result = client.acquire_token_by_password(creds)
    return create_authorization(result, user=user, setup=setup, instance=instance)


def _checked_dynamics_url(source: models.Model) -> str:
    """The Dynamics URL, re-checked right before a token is sent to it (the SSRF guard)."""
    try:
        return normalize_dynamics_url(source.dynamics_url,
                                      sandbox_allowed=settings.SANDBOX_ENABLED and source.use_sandbox).url
    except InvalidDynamicsUrl as exc:
        raise AzureError("invalid_dynamics_url", exc.message) from None


def create_authorization(result: TokenResult, *, user, setup: models.Model | None,
                         instance: models.Model | None) -> Authorization:
    return Authorization.objects.create(
        setup=setup, instance=instance, user=user, token_cache=result.cache, home_account_id=result.home_account_id,
        claims=result.claims, scopes=result.scopes, access_token_expires_at=result.expires_at,
    )
