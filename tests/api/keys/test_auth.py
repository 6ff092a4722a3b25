"""ApiKeyAuthentication and the per-key rate limit, through GET /api/v1/me over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from setup_portal.api.keys.actions import do_create_api_key, do_revoke_api_key
from setup_portal.api.models import ApiKey

ME = "/api/v1/me"


@pytest.fixture(autouse=True)
def _no_key_rate_limit(settings):
    settings.API_KEY_RATE_LIMIT = "off"


def _get(key: str | None, client: Client | None = None, **extra):
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return (client or Client()).get(ME, headers=headers, **extra)


def _assert_refused(response, detail: str) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith('Bearer realm="api"')
    assert detail in response.json()["detail"]


def test_it_authenticates_as_the_owner(alice):
    new = do_create_api_key(alice, "script", acting_user=alice)
    response = _get(new.key, REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["api_key"]["prefix"] == new.api_key.prefix and body["api_key"]["name"] == "script"
    row = ApiKey.objects.get(pk=new.api_key.pk)
    assert row.last_used_ip == "192.0.2.7" and row.last_used_at is not None


def test_it_acts_with_the_owners_role(bob):
    response = _get(do_create_api_key(bob, "script", acting_user=bob).key)
    assert response.json()["role"] == "Team lead"


def test_it_requires_credentials(db):
    response = _get(None)
    _assert_refused(response, "Authorization: Bearer dcp_")
    assert response.json()["status"] == 401


def test_it_handles_wrong_and_unknown_keys(alice):
    key = do_create_api_key(alice, "script", acting_user=alice).key
    _assert_refused(_get(key[:-1] + ("x" if key[-1] != "x" else "y")), "not valid")
    _assert_refused(_get("dcp_0000000000_" + key.rsplit("_", 1)[1]), "not valid")
    _assert_refused(_get("not-a-key"), "not valid")
    assert 'error="invalid_token"' in _get("not-a-key")["WWW-Authenticate"]


def test_it_handles_expired_and_revoked_keys(alice):
    expired = do_create_api_key(alice, "old", acting_user=alice)
    ApiKey.objects.filter(pk=expired.api_key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    _assert_refused(_get(expired.key), "expired")
    revoked = do_create_api_key(alice, "gone", acting_user=alice)
    assert _get(revoked.key).status_code == 200
    do_revoke_api_key(revoked.api_key, acting_user=alice)
    _assert_refused(_get(revoked.key), "revoked")


def test_it_refuses_an_inactive_owner(charlie):
    key = do_create_api_key(charlie, "script", acting_user=charlie).key
    charlie.is_active = False
    charlie.save()
    _assert_refused(_get(key), "can no longer sign in")


def test_a_browser_session_still_works(alice_client):
    response = alice_client.get(ME)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert response.json() == {"username": "alice", "role": "Admin", "portal_administrator": True, "api_key": None}


def test_a_person_without_a_role_may_ask_who_they_are(charlie):
    body = _get(do_create_api_key(charlie, "script", acting_user=charlie).key).json()
    assert body["role"] == "No role" and body["portal_administrator"] is False


def test_it_limits_calls_per_key(alice, bob, settings):
    settings.API_KEY_RATE_LIMIT = "1/h burst 2"
    first = do_create_api_key(alice, "one", acting_user=alice).key
    second = do_create_api_key(alice, "two", acting_user=alice).key
    assert [_get(first).status_code for _ in range(2)] == [200, 200]
    refused = _get(first)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert _get(second).status_code == 200  # the limit is per key
    assert _get(do_create_api_key(bob, "Bob one", acting_user=bob).key).status_code == 200


def test_a_bad_rate_limit_setting_is_named(alice, settings):
    from django.core.exceptions import ImproperlyConfigured

    from setup_portal.api.keys.auth import take_for_key

    settings.API_KEY_RATE_LIMIT = "lots"
    with pytest.raises(ImproperlyConfigured, match="API_KEY_RATE_LIMIT"):
        take_for_key(do_create_api_key(alice, "one", acting_user=alice).api_key)
