"""Owner-based access: an ordinary user sees and changes only the rows he owns; System
Administrators (users and application users) see and change all of them."""

from __future__ import annotations

from .conftest import ADMIN_ID, FOURTH_COFFEE, LEE_ID


def test_an_ordinary_user_sees_only_his_rows(lee_api, app_api):
    mine = lee_api.ok("GET", "accounts?$select=name,_ownerid_value&$count=true")
    everyone = app_api.ok("GET", "accounts?$select=name&$count=true")
    assert 0 < mine["@odata.count"] < everyone["@odata.count"]
    assert {r["_ownerid_value"] for r in mine["value"]} == {LEE_ID}
    filtered = lee_api.ok("GET", f"accounts?$select=name&$filter=_ownerid_value eq {ADMIN_ID}")
    assert filtered["value"] == []
    assert int(lee_api.get("contacts/$count").text) < int(app_api.get("contacts/$count").text)


def test_an_ordinary_user_gets_the_privilege_error_for_others_rows(lee_api):
    resp = lee_api.get(f"accounts({FOURTH_COFFEE})")
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["code"] == "0x80048306"
    assert error["message"].startswith("SecLib::AccessCheckEx failed. Returned hr = -2147187962, ObjectID: "
                                       f"{FOURTH_COFFEE}, OwnerId: {ADMIN_ID}")
    assert "AccessRights: ReadAccess" in error["message"]
    update = lee_api.patch(f"accounts({FOURTH_COFFEE})", {"name": "Mine now"})
    assert update.status_code == 403 and "WriteAccess" in update.json()["error"]["message"]
    assert lee_api.delete(f"accounts({FOURTH_COFFEE})").status_code == 403


def test_an_ordinary_user_changes_his_own_rows(lee_api):
    created = lee_api.post("accounts", {"name": "Lee's Lemonade"}, prefer="return=representation")
    assert created.status_code == 201
    row = created.json()
    assert row["_ownerid_value"] == row["_createdby_value"] == LEE_ID
    key = row["accountid"]
    assert lee_api.patch(f"accounts({key})", {"telephone1": "555-0001"}).status_code == 204
    own = lee_api.ok("GET", "accounts?$select=accountid&$filter=_ownerid_value eq " + LEE_ID)
    assert key in {r["accountid"] for r in own["value"]}
    assert lee_api.delete(f"accounts({key})").status_code == 204


def test_an_ordinary_user_cannot_give_rows_away(lee_api):
    resp = lee_api.post("accounts", {"name": "Gift", "ownerid@odata.bind": f"/systemusers({ADMIN_ID})"})
    assert resp.status_code == 403
    assert "prvAssignAccount" in resp.json()["error"]["message"]


def test_an_administrator_signed_in_sees_and_changes_everything(admin_api, app_api):
    theirs = admin_api.ok("GET", "accounts?$count=true&$top=1")["@odata.count"]
    assert theirs == app_api.ok("GET", "accounts?$count=true&$top=1")["@odata.count"]
    lees = admin_api.ok("GET", f"accounts?$select=name&$filter=_ownerid_value eq {LEE_ID}&$top=1")["value"][0]
    assert admin_api.patch(f"accounts({lees['accountid']})", {"description": "checked"}).status_code == 204
    row = admin_api.ok("GET", f"accounts({lees['accountid']})?$select=_modifiedby_value,_ownerid_value")
    assert row["_modifiedby_value"] == ADMIN_ID and row["_ownerid_value"] == LEE_ID


def test_an_application_user_without_a_role_reads_nothing(sbx, info):
    app = sbx.confidential_client(client_id="95d91dd5-f8b5-45a3-92cb-7220728d4100",
                                  client_credential="sbx8Q~PartnerSecretValue-0003tuvGH")
    token = app.acquire_token_for_client([f"{info['dynamics_url']}/.default"])["access_token"]
    session = sbx.session()
    resp = session.post(info["endpoints"]["webapi"] + "contacts", json={"lastname": "x"},
                        headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "0x80040220"
