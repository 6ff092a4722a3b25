"""Helpers for the sandbox's own tests: a clean sandbox, and Web API clients with tokens from msal."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

REDIRECT_URI = "http://127.0.0.1:8000/azure/callback/"


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def sbx(clean_sandbox):
    """A sandbox with a clean slate: no faults, codes, refresh tokens or runtime consents."""
    clean_sandbox.reset()
    return clean_sandbox


@pytest.fixture
def info(sbx) -> dict:
    return sbx.info


@pytest.fixture
def user_scope(info) -> list[str]:
    return [f"{info['dynamics_url']}/user_impersonation"]


# --- the Dataverse data service ---------------------------------------------------------------
LEE = ("lee@contoso.onmicrosoft.com", "Sandbox-User-Pass-1!")
LEE_ID = "1e5986c9-3041-4835-9150-6b0e44cbf44a"
ADMIN_ID = "2669c436-a44b-4378-847e-056637807138"
APP_USER_ID = "64adf8c8-4bd9-4c56-b9b7-84a7f8a22c33"
FOURTH_COFFEE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


class WebApi:
    """Requests to the sandbox's Dataverse Web API with one bearer token, as a client would send them."""

    def __init__(self, sbx, token: str):
        self.sbx = sbx
        self.base = sbx.info["endpoints"]["webapi"]
        self.session = sbx.session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "OData-MaxVersion": "4.0",
                                     "OData-Version": "4.0", "Accept": "application/json"})

    def request(self, method: str, path: str, *, prefer: str | None = None, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if prefer:
            headers["Prefer"] = prefer
        url = path if path.startswith("https://") else self.base + path
        return self.session.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: dict, **kwargs):
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: dict, **kwargs):
        return self.request("PATCH", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs) -> dict:
        resp = self.request(method, path, **kwargs)
        assert resp.status_code == 200, (resp.status_code, resp.text[:500])
        return resp.json()


@pytest.fixture
def app_api(sbx, info) -> WebApi:
    """The portal's app through client credentials: an application user with System Administrator."""
    result = sbx.confidential_client().acquire_token_for_client([f"{info['dynamics_url']}/.default"])
    return WebApi(sbx, result["access_token"])


@pytest.fixture
def admin_api(sbx, info, user_scope) -> WebApi:
    """Adele (System Administrator) signed in through the authorization-code flow and consent."""
    app = sbx.confidential_client()
    flow = app.initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    result = app.acquire_token_by_auth_code_flow(flow, query_of(sbx.browser_sign_in(flow["auth_uri"])))
    return WebApi(sbx, result["access_token"])


@pytest.fixture
def lee_api(sbx, user_scope) -> WebApi:
    """Lee, an ordinary user (Basic User: only the rows he owns), through the password grant."""
    result = sbx.public_client().acquire_token_by_username_password(*LEE, user_scope)
    return WebApi(sbx, result["access_token"])


def set_limits(sbx, **limits) -> dict:
    """Service-protection limits (requests, execution_ms, concurrent, window_seconds, delay_ms); every
    user's window starts afresh. Without arguments: back to the settings."""
    return sbx.admin("POST" if limits else "DELETE", "dataverse/limits", limits or None)


def make_changes(sbx, env: str = "contoso", **plan) -> list[dict]:
    """e.g. make_changes(sbx, accounts={"create": 2, "update": 1, "delete": 1}, seed=7)."""
    return sbx.admin("POST", f"dataverse/{env}/changes", plan)["changes"]
