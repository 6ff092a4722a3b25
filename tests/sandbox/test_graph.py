"""The sandbox's groups: the `groups` claim, its overage, Graph getMemberGroups and the membership hook."""

from __future__ import annotations

import jwt
import pytest

CRM_REVIEWERS = "c4a8e2f6-3b1d-4f7a-9e5c-8d2b6a4f0e1c"
NESTOR = ("nestor@contoso.onmicrosoft.com", "Sandbox-Reviewer-Pass-1!")
GRADY = ("grady@contoso.onmicrosoft.com", "Sandbox-Overage-Pass-1!")


def sign_in(sbx, info, username: str, password: str) -> dict:
    """The portal's sign-in app's tokens for a user (openid profile email, as allauth asks)."""
    app = sbx.confidential_client(info["sign_in_client_id"], info["sign_in_client_secret"])
    flow = app.initiate_auth_code_flow(["email"], redirect_uri="http://127.0.0.1:8000/accounts/oidc/microsoft/login/callback/")
    _, answer = sbx.browser_answer(flow["auth_uri"], username=username, password=password)
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    return result


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def member_groups(sbx, token: str, path: str = "me", body: object = None):
    return sbx.session().post(f"{sbx.info['backchannel_base']}/graph/v1.0/{path}/getMemberGroups",
                              json={"securityEnabledOnly": True} if body is None else body,
                              headers={"Authorization": f"Bearer {token}"})


def test_it_puts_the_groups_in_the_id_token_of_an_app_that_asks_for_them(sbx, info):
    id_token = claims(sign_in(sbx, info, *NESTOR)["id_token"])
    assert id_token["groups"] == [CRM_REVIEWERS] and "_claim_names" not in id_token
    assert id_token["amr"] == ["pwd"]
    # The setup app's registration asks for no group claims.
    app = sbx.confidential_client()
    flow = app.initiate_auth_code_flow(["email"], redirect_uri="http://127.0.0.1:8000/azure/callback/")
    _, answer = sbx.browser_answer(flow["auth_uri"])
    assert "groups" not in app.acquire_token_by_auth_code_flow(flow, answer)["id_token_claims"]


def test_it_sends_the_overage_claim_past_200_groups_and_graph_lists_them(sbx, info):
    result = sign_in(sbx, info, *GRADY)
    id_token = claims(result["id_token"])
    assert "groups" not in id_token and id_token["_claim_names"] == {"groups": "src1"}
    assert id_token["_claim_sources"]["src1"]["endpoint"].endswith(f"/users/{id_token['oid']}/getMemberGroups")
    answer = member_groups(sbx, result["access_token"])
    assert answer.status_code == 200 and answer.json()["@odata.context"].endswith("Collection(Edm.String)")
    assert len(answer.json()["value"]) == 211 and CRM_REVIEWERS in answer.json()["value"]
    by_id = member_groups(sbx, result["access_token"], f"users/{id_token['oid']}")
    assert by_id.json()["value"] == answer.json()["value"]


@pytest.mark.parametrize("path, body, token, status", [
    ("me", {}, "good", 400), ("me", [1], "good", 400), ("users/nobody@contoso.onmicrosoft.com", None, "good", 404),
    ("me", None, "", 401), ("me", None, "not-a-token", 401)])
def test_it_answers_graph_errors(sbx, info, path, body, token, status):
    access_token = sign_in(sbx, info, *NESTOR)["access_token"] if token == "good" else token
    answer = member_groups(sbx, access_token, path, body)
    assert answer.status_code == status and "code" in answer.json()["error"]


def test_the_hook_moves_a_user_in_and_out_of_a_group(sbx, info):
    sbx.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": NESTOR[0], "member": False})
    try:
        assert claims(sign_in(sbx, info, *NESTOR)["id_token"])["groups"] == []
    finally:
        sbx.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": NESTOR[0], "member": True})
    assert claims(sign_in(sbx, info, *NESTOR)["id_token"])["groups"] == [CRM_REVIEWERS]
