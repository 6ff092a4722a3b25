"""Change tracking: `Prefer: odata.track-changes` gives a delta link; following it returns rows
created or changed since and `$deletedEntity` entries for deletions, then a new delta link."""

from __future__ import annotations

from .conftest import FOURTH_COFFEE, make_changes


def _start(api, path: str = "accounts?$select=name,telephone1", size: int | None = None) -> tuple[list, str]:
    rows, url = [], path
    prefer = "odata.track-changes" + (f",odata.maxpagesize={size}" if size else "")
    while True:
        resp = api.get(url, prefer=prefer)
        assert resp.status_code == 200, resp.text
        assert "odata.track-changes" in resp.headers["Preference-Applied"]
        body = resp.json()
        rows += body["value"]
        if "@odata.deltaLink" in body:
            return rows, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def test_it_tracks_creates_updates_and_deletes(app_api):
    rows, delta = _start(app_api)
    assert len(rows) >= 300
    assert "$deltatoken=" in delta and delta.startswith(app_api.base + "accounts?$select=name,telephone1&")

    created = app_api.post("accounts", {"name": "Tracked Co"}, prefer="return=representation").json()
    app_api.patch(f"accounts({FOURTH_COFFEE})", {"telephone1": "555-7777"})
    doomed = rows[-1]["accountid"]
    app_api.delete(f"accounts({doomed})")

    body = app_api.ok("GET", delta)
    assert body["@odata.context"].endswith("$metadata#accounts(name,telephone1,accountid)/$delta")
    changed = [r for r in body["value"] if "@odata.etag" in r]
    assert [r["accountid"] for r in changed] == [created["accountid"], FOURTH_COFFEE]
    assert changed[1]["telephone1"] == "555-7777"
    assert body["value"][-1] == {
        "@odata.context": f"{app_api.base.rstrip('/')}/$metadata#accounts/$deletedEntity", "id": doomed,
        "reason": "deleted"}

    quiet = app_api.ok("GET", body["@odata.deltaLink"])
    assert quiet["value"] == [] and quiet["@odata.deltaLink"]
    assert app_api.get(delta.replace("accounts?", "accounts/$count?")).text == "3"


def test_it_tracks_generated_changes_across_tables(sbx, app_api):
    _, accounts = _start(app_api)
    _, tasks = _start(app_api, "activitypointers?$select=subject")
    made = make_changes(sbx, accounts={"create": 2, "update": 3, "delete": 1}, tasks={"create": 1, "delete": 1},
                        seed=11)
    assert [c["op"] for c in made if c["table"] == "accounts"] == ["create"] * 2 + ["update"] * 3 + ["delete"]
    value = app_api.ok("GET", accounts)["value"]
    ids = {c["id"] for c in made if c["table"] == "accounts" and c["op"] != "delete"}
    assert {r["accountid"] for r in value if "accountid" in r} == ids
    deleted = [r["id"] for r in value if r.get("reason") == "deleted"]
    assert deleted == [c["id"] for c in made if c["table"] == "accounts" and c["op"] == "delete"]
    activities = app_api.ok("GET", tasks)["value"]
    assert len(activities) == 2 and activities[-1]["reason"] == "deleted"


def test_it_pages_a_large_delta(sbx, app_api):
    _, delta = _start(app_api, size=200)
    make_changes(sbx, accounts={"update": 25, "delete": 5}, seed=3)
    seen, url = [], delta
    while True:
        body = app_api.ok("GET", url, prefer="odata.maxpagesize=10")
        seen += body["value"]
        if "@odata.deltaLink" in body:
            break
        url = body["@odata.nextLink"]
    assert len(seen) == 30 and sum(1 for r in seen if r.get("reason") == "deleted") == 5


def test_an_expired_or_unknown_token_gets_dataverses_error(sbx, app_api):
    _, delta = _start(app_api)
    sbx.admin("POST", "dataverse/contoso/expire-delta-tokens")
    for url in (delta, app_api.base + "accounts?$deltatoken=999999999%2101%2F01%2F2026%2000%3A00%3A00",
                app_api.base + "accounts?$deltatoken=garbage"):
        resp = app_api.get(url)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == {"code": "0x80044352", "message": "Version stamp associated with the "
                                                                         "client has expired. Please perform a full "
                                                                         "sync."}
    _, fresh = _start(app_api)
    assert app_api.get(fresh).status_code == 200


def test_a_reset_expires_tokens_only_when_data_changed(sbx, app_api):
    _, delta = _start(app_api)
    sbx.reset()
    assert app_api.get(delta).status_code == 200
    app_api.patch(f"accounts({FOURTH_COFFEE})", {"telephone1": "1"})
    sbx.reset()
    assert app_api.get(delta).status_code == 400
    assert app_api.ok("GET", f"accounts({FOURTH_COFFEE})?$select=telephone1")["telephone1"] == "555-0100"


def test_it_refuses_query_options_with_change_tracking(app_api):
    resp = app_api.get("accounts?$select=name&$filter=statecode eq 0", prefer="odata.track-changes")
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == ('The "$filter" query parameter isn\'t supported when Change '
                                               'Tracking is enabled.')


def test_it_needs_organization_level_read(lee_api):
    resp = lee_api.get("accounts?$select=name", prefer="odata.track-changes")
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "0x80040220"
