"""Failed authentications are throttled per client address on both APIs: past AUTH_FAILURE_LIMIT a
wrong key or token is answered 429 (problem details, Retry-After); good credentials are never held up."""

from __future__ import annotations

import functools

import pytest
from django.test import Client

from setup_portal.api.keys.actions import do_create_api_key

LIMIT = 3


def _until_throttled(send) -> list:
    """Failures until the first 429: the first LIMIT are 401s, and a 429 comes within two windows'
    worth (a window may end between two calls and start the count again)."""
    answers = [send() for _ in range(LIMIT)]
    assert [a.status_code for a in answers] == [401] * LIMIT
    for _ in range(LIMIT + 1):
        answers.append(send())
        if answers[-1].status_code == 429:
            return answers
    raise AssertionError([a.status_code for a in answers])


def _assert_throttled(response) -> None:
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 429 and body["title"] == "Too many failed authentications"
    assert 1 <= int(response["Retry-After"]) <= 3600


@pytest.fixture
def limited(settings):
    settings.AUTH_FAILURE_LIMIT = f"{LIMIT}/h"


def test_it_throttles_wrong_api_keys_per_address_and_lets_good_keys_through(limited, alice):
    client = Client()
    good = do_create_api_key(alice, "script", acting_user=alice).key
    for _ in range(LIMIT + 2):  # good calls do not count
        assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200
    answers = _until_throttled(lambda: client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {good}x"))
    _assert_throttled(answers[-1])
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200
    elsewhere = client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer dcp_wrong", REMOTE_ADDR="192.0.2.7")
    assert elsewhere.status_code == 401


def test_it_throttles_wrong_instance_tokens_per_address_and_lets_good_ones_through(limited, app, clean_sandbox):
    for _ in range(LIMIT + 2):
        assert app.get("/api/v1/crm/accounts", {"pageSize": "1"}).status_code == 200
    # A list GET goes past DRF's machinery, a raw GET through it; each from an address of its own.
    for path, address in [("/api/v1/crm/accounts", "198.51.100.1"), ("/api/v1/crm/raw/accounts", "198.51.100.2")]:
        answers = _until_throttled(functools.partial(app.client.get, path, REMOTE_ADDR=address,
                                                     HTTP_AUTHORIZATION=f"Bearer {app.token}x"))
        _assert_throttled(answers[-1])
        assert answers[0]["WWW-Authenticate"].startswith('Bearer realm="crm"')
    assert app.get("/api/v1/crm/accounts", {"pageSize": "1"}).status_code == 200


def test_it_can_be_switched_off(settings, db):
    settings.AUTH_FAILURE_LIMIT = "off"
    client = Client()
    assert {client.get("/api/v1/crm/accounts", HTTP_AUTHORIZATION="Bearer dci_wrong").status_code
            for _ in range(30)} == {401}
