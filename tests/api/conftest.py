"""Fixtures for the instance API: a Ready instance that really works against the sandbox, and its token."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from setup_portal.instances.instance_token import new_instance_token, token_hash, token_prefix
from setup_portal.instances.models import Instance
from tests.instances.factories import sandbox_s2s_instance


def issue_token(instance: Instance) -> str:
    """A new instance token for `instance`, stored the way provisioning stores one (prefix and hash)."""
    token = new_instance_token()
    Instance.objects.filter(pk=instance.pk).update(token_hash=token_hash(token), token_prefix=token_prefix(token))
    return token


@dataclass
class Caller:
    """An application calling the API with an instance token, through Django's test client."""

    instance: Instance
    token: str
    client: Client

    def _headers(self, headers: dict | None) -> dict:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, params: dict | None = None, **headers):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body=None, **headers):
        return self.client.post(path, body if body is not None else {}, content_type="application/json",
                                headers=self._headers(headers))

    def patch(self, path: str, body=None, **headers):
        return self.client.patch(path, body if body is not None else {}, content_type="application/json",
                                 headers=self._headers(headers))

    def delete(self, path: str, **headers):
        return self.client.delete(path, headers=self._headers(headers))


@pytest.fixture(autouse=True)
def _no_portal_rate_limit(settings):
    """Tests make calls in quick succession, some with wrong tokens; the limits have their own tests."""
    settings.CRM_RATE_LIMIT = "off"
    settings.AUTH_FAILURE_LIMIT = "off"
    settings.CRM_RETRY_BUDGET_SECONDS = 3


@pytest.fixture
def crm_instance(alice, sandbox) -> Instance:
    return sandbox_s2s_instance(alice, sandbox.info, filter_nulls=False)


@pytest.fixture
def app(crm_instance) -> Caller:
    return Caller(crm_instance, issue_token(crm_instance), Client())
