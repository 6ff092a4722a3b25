"""The sandbox's Dataverse as the query layer's tests use it: a client with an application token."""

from __future__ import annotations

import pytest
import requests

from setup_portal.crm.query import select_option
from setup_portal.crm.resources import Resource


class Dataverse:
    """Web API requests with the portal's application user (System Administrator: sees every row)."""

    def __init__(self, sandbox, token: str):
        self.sandbox = sandbox
        self.base = sandbox.info["endpoints"]["webapi"]
        self.session = sandbox.session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "OData-MaxVersion": "4.0",
                                     "OData-Version": "4.0", "Accept": "application/json"})

    def get(self, path: str, params: dict | None = None, *, prefer: str | None = None) -> requests.Response:
        url = path if path.startswith("https://") else self.base + path
        return self.session.get(url, params=params, headers={"Prefer": prefer} if prefer else {})

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.base + path, **kwargs)

    def ok(self, path: str, params: dict | None = None, *, prefer: str | None = None) -> dict:
        resp = self.get(path, params, prefer=prefer)
        assert resp.status_code == 200, (resp.status_code, resp.text[:500])
        return resp.json()

    def rows(self, resource: Resource) -> list[dict]:
        """Every row of a resource with every catalogue column (the sandbox pages at 5,000)."""
        body = self.ok(resource.entity_set, {"$select": select_option(resource)})
        assert "@odata.nextLink" not in body
        return body["value"]


@pytest.fixture(scope="module")
def dataverse(sandbox) -> Dataverse:
    """The seed data (reset once per module) and an application token from msal's client-credentials flow."""
    sandbox.clear_faults()
    sandbox.reset()
    result = sandbox.confidential_client().acquire_token_for_client([f"{sandbox.info['dynamics_url']}/.default"])
    return Dataverse(sandbox, result["access_token"])
