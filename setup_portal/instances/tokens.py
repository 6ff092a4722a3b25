"""An instance's access token: read from its encrypted msal cache, refreshed under a row lock."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from setup_portal.azure import client as azure
from setup_portal.observability import metrics

from .models import Instance

# Where the instance API keeps an instance's current access token (encrypted) in the shared cache
# between calls (api/access.py); named here so that deleting the instance can erase it.
ACCESS_TOKEN_CACHE_KEY = "crm:access-token:{}"


def acquire_token_for_instance(instance: Instance, *, force_refresh: bool = False) -> azure.TokenResult:
    """An access token for the instance's Dynamics URL, from its cache or a new grant.

    The row stays locked while msal may redeem (and rotate) the refresh token, so a refresh
    in the worker and one in a web request never both spend the same refresh token; the
    cache is written back only when msal changed it. Raises azure.AzureError.
    """
    with transaction.atomic():
        row = Instance.objects.select_for_update().get(pk=instance.pk)
        try:
            result = azure.acquire_token(azure.Credentials.of(row), cache=row.token_cache,
                                         force_refresh=force_refresh)
        except azure.AzureError:
            metrics.token_refreshes.labels("failed").inc()
            raise
        metrics.token_refreshes.labels("refreshed" if result.source == "identity_provider" else "cached").inc()
        if result.cache_changed:
            row.token_cache = result.cache
            row.access_token_expires_at = result.expires_at
            row.token_refreshed_at = timezone.now()
            row.save(update_fields=["token_cache", "access_token_expires_at", "token_refreshed_at", "updated_at"])
    return result
