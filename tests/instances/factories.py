"""Instances for the dashboard / lifecycle / keep-alive tests (plain functions, no fixtures)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import msal
from django.utils import timezone

from setup_portal.crypto import mask
from setup_portal.instances import state
from setup_portal.instances.models import Instance

SECRET = "Kx8Q~stored-secret-value-0123456789abcd"
_numbers = itertools.count(1)


def make_instance(owner, **fields) -> Instance:
    """A Ready OAuth instance with a client secret (not usable against the sandbox)."""
    n = next(_numbers)
    values = {
        "name": f"contoso-sales-{n:04d}", "dynamics_url": f"https://contoso{n}.crm4.dynamics.com", "region": "EMEA",
        "tenant": str(uuid.uuid4()), "auth_type": "oauth2", "client_id": str(uuid.uuid4()),
        "client_secret": SECRET, "secret_hint": mask(SECRET), "status": Instance.Status.READY,
        "use_sandbox": True, "secret_expires_on": timezone.localdate() + dt.timedelta(days=200),
    }
    values.update(fields)
    # Inserted through the one owner of instance state, so the dashboard's counters count it.
    initial = {field: values.pop(field) for field in list(values) if field in state.STATE_FIELDS}
    inst = Instance(owner=owner, **values)
    state.transition(inst, None, acting_user=None, **initial)
    return inst


def sandbox_s2s_instance(owner, info: dict, **fields) -> Instance:
    """A server-to-server instance that really works against the sandbox (no browser needed)."""
    values = {"tenant": info["tenant_id"], "dynamics_url": info["dynamics_url"], "auth_type": "s2s",
              "client_id": info["s2s_client_id"], "client_secret": info["s2s_client_secret"],
              "secret_hint": mask(info["s2s_client_secret"]), "region": info.get("region", "")}
    values.update(fields)
    return make_instance(owner, **values)


def sandbox_oauth_instance(owner, sandbox, **fields) -> Instance:
    """An OAuth instance holding a real token cache: signs in at the sandbox like a browser would."""
    info = sandbox.info
    cache = msal.SerializableTokenCache()
    app = sandbox.confidential_client(token_cache=cache)
    flow = app.initiate_auth_code_flow([f"{info['dynamics_url']}/user_impersonation"],
                                       redirect_uri="http://127.0.0.1:8000/azure/callback/", response_mode="form_post")
    _, answer = sandbox.browser_answer(flow["auth_uri"])
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    values = {"tenant": info["tenant_id"], "dynamics_url": info["dynamics_url"], "auth_type": "oauth2",
              "client_id": info["client_id"], "client_secret": info["client_secret"],
              "secret_hint": mask(info["client_secret"]), "token_cache": cache.serialize(),
              "access_token_expires_at": timezone.now() + dt.timedelta(seconds=int(result["expires_in"]))}
    values.update(fields)
    return make_instance(owner, **values)
