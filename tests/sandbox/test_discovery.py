"""The sandbox's Global Discovery Service: a delegated token for the discovery audience (from the
public client, through the real msal and the sign-in pages), then the environments the user can
open, each a working Dataverse environment with its own rows."""

from __future__ import annotations

import pytest

from .conftest import LEE, REDIRECT_URI, query_of


@pytest.fixture
def discovery_scope(info) -> list[str]:
    return [f"{info['backchannel_base']}/user_impersonation"]


def _instances_url(info) -> str:
    return f"{info['backchannel_base']}/api/discovery/v2.0/Instances"


def _discovery_token(sbx, scopes, **sign_in) -> dict:
    app = sbx.public_client()
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI, response_mode="form_post")
    redirect_uri, answer = sbx.browser_answer(flow["auth_uri"], **sign_in)
    assert redirect_uri == REDIRECT_URI
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    return result


def _instances(sbx, token: str):
    return sbx.session().get(_instances_url(sbx.info), headers={"Authorization": f"Bearer {token}"})


def test_it_lists_the_environments_of_the_signed_in_user(sbx, info, discovery_scope):
    result = _discovery_token(sbx, discovery_scope)
    assert result["scope"].split()[0] == f"{info['backchannel_base']}/user_impersonation"

    response = _instances(sbx, result["access_token"])

    assert response.status_code == 200, response.text
    rows = {row["UrlName"]: row for row in response.json()["value"]}
    assert set(rows) == {"contoso", "contoso-eu", "contoso-archive"}
    contoso = rows["contoso"]
    assert contoso["Url"] == info["dynamics_url"]
    assert contoso["FriendlyName"] == "Contoso" and contoso["State"] == 0
    assert contoso["TenantId"] == info["tenant_id"] and contoso["Region"] == "NA"
    assert {"Id", "ApiUrl", "Version", "UniqueName", "EnvironmentId"} <= set(contoso)
    assert rows["contoso-archive"]["State"] == 1
    assert rows["contoso-eu"]["Region"] == "EUR"
    assert (contoso["OrganizationType"], rows["contoso-eu"]["OrganizationType"]) == (5, 0)  # sandbox, production


def test_it_lists_only_environments_the_user_is_a_member_of(sbx, discovery_scope):
    result = _discovery_token(sbx, discovery_scope, username=LEE[0], password=LEE[1])

    rows = _instances(sbx, result["access_token"]).json()["value"]

    assert [row["UrlName"] for row in rows] == ["contoso"]


def test_it_refuses_a_missing_or_wrong_audience_token(sbx, info, user_scope):
    assert _instances(sbx, "").status_code == 401
    # A token for the Dataverse environment is not a token for the discovery service.
    dynamics = _discovery_token(sbx, user_scope)
    response = _instances(sbx, dynamics["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "audience" in response.headers["WWW-Authenticate"]


def test_it_refuses_an_app_token(sbx, info):
    app = sbx.confidential_client()
    result = app.acquire_token_for_client([f"{info['backchannel_base']}/.default"])
    assert "access_token" in result, result
    assert _instances(sbx, result["access_token"]).status_code == 403


def test_it_serves_discovery_only_on_the_https_listener(sbx, info):
    response = sbx.session().get(f"{info['browser_base']}/api/discovery/v2.0/Instances")
    assert response.status_code == 404


def test_each_listed_environment_is_a_working_dataverse_with_its_own_rows(sbx, info, discovery_scope):
    rows = _instances(sbx, _discovery_token(sbx, discovery_scope)["access_token"]).json()["value"]
    app = sbx.confidential_client()
    names = {}
    for row in rows:
        result = app.acquire_token_for_client([f"{row['Url']}/.default"])
        session = sbx.session()
        session.headers["Authorization"] = f"Bearer {result['access_token']}"
        who = session.get(f"{row['Url']}/api/data/v9.2/WhoAmI")
        assert who.status_code == 200, (row["UrlName"], who.text)
        assert who.json()["OrganizationId"] == row["Id"]
        accounts = session.get(f"{row['Url']}/api/data/v9.2/accounts?$select=name&$top=3&$orderby=name")
        assert accounts.status_code == 200, accounts.text
        names[row["UrlName"]] = [a["name"] for a in accounts.json()["value"]]
    assert len({tuple(v) for v in names.values()}) == 3, names


def test_the_public_client_gets_the_discovery_scope_without_a_consent_page(sbx, info, discovery_scope):
    app = sbx.public_client()
    flow = app.initiate_auth_code_flow(discovery_scope, redirect_uri=REDIRECT_URI)
    location = sbx.browser_sign_in(flow["auth_uri"])
    assert "code" in query_of(location), location
