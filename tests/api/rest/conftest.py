"""Management API fixtures: API keys for the named users, and a client that sends one."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from setup_portal.api.keys.actions import do_create_api_key


@dataclass
class KeyClient:
    """A script calling the management API with a personal API key."""

    key: str
    client: Client

    def _h(self) -> dict:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(path, params or {}, headers=self._h())

    def post(self, path: str, body=None):
        return self.client.post(path, body if body is not None else {}, content_type="application/json",
                                headers=self._h())

    def patch(self, path: str, body=None):
        return self.client.patch(path, body if body is not None else {}, content_type="application/json",
                                 headers=self._h())

    def delete(self, path: str):
        return self.client.delete(path, headers=self._h())


def key_client(user) -> KeyClient:
    return KeyClient(do_create_api_key(user, "tests", acting_user=user).key, Client(enforce_csrf_checks=True))


@pytest.fixture(autouse=True)
def _no_key_rate_limit(settings):
    settings.API_KEY_RATE_LIMIT = "off"


@pytest.fixture
def alice_api(alice) -> KeyClient:
    return key_client(alice)


@pytest.fixture
def bob_api(bob) -> KeyClient:
    return key_client(bob)


@pytest.fixture
def charlie_api(charlie) -> KeyClient:
    return key_client(charlie)
