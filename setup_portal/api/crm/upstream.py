"""The instance API's calls to the instance's Dataverse Web API, through the one Dataverse client.

What needs the instance row stays here: its access token comes from the shared cache (access.py),
and after Dataverse refuses one the cache entry is dropped and a new token is fetched under the
row's lock. Retries, the budget and the connections are the client's (dataverse/client.py).
"""

from __future__ import annotations

from setup_portal.dataverse import client
from setup_portal.instances.models import Instance

from . import access


def send(instance: Instance, method: str, url: str, *, params=None, body=None, headers: dict | None = None,
         use_sandbox: bool) -> client.Outcome:
    """One API call to `url` (already checked to be under the instance's Web API). Raises
    client.Unreachable, azure.AzureError and access.InstanceGone (from the token)."""

    def token(rejected: str | None) -> str:
        if rejected is None:
            return access.access_token(instance)
        access.forget(instance.pk)
        return access.access_token(instance, rejected=rejected)

    return client.send(method, url, token=token, params=params, body=body, headers=headers, use_sandbox=use_sandbox)
