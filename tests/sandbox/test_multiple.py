"""CreateMultiple, UpdateMultiple and UpsertMultiple on the sandbox Dataverse's standard tables
over real HTTP: answers as documented, and all or nothing."""

from __future__ import annotations

import uuid

import pytest

ACCOUNT = "Microsoft.Dynamics.CRM.account"


def action(api, table: str, name: str, targets: list[dict]):
    return api.post(f"{table}/Microsoft.Dynamics.CRM.{name}", {"Targets": targets})


def names(api, prefix: str) -> dict[str, dict]:
    rows = api.ok("GET", f"accounts?$select=name,telephone1&$filter=startswith(name,'{prefix}')")["value"]
    return {r["name"]: r for r in rows}


def test_it_creates_many_records_and_answers_their_ids(app_api):
    prefix = f"Multi {uuid.uuid4().hex[:8]}"
    resp = action(app_api, "accounts", "CreateMultiple",
                  [{"@odata.type": ACCOUNT, "name": f"{prefix} {i}"} for i in range(3)])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    assert len(body["Ids"]) == 3
    created = names(app_api, prefix)
    assert sorted(r["accountid"] for r in created.values()) == sorted(body["Ids"])


def test_it_creates_contacts_too(app_api):
    resp = action(app_api, "contacts", "CreateMultiple",
                  [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "Bulk"}])
    assert resp.status_code == 200, resp.text
    (key,) = resp.json()["Ids"]
    assert app_api.ok("GET", f"contacts({key})")["fullname"] == "Bulk"


def test_it_creates_nothing_when_one_record_fails(app_api):
    prefix = f"Atomic {uuid.uuid4().hex[:8]}"
    resp = action(app_api, "accounts", "CreateMultiple", [
        {"@odata.type": ACCOUNT, "name": f"{prefix} good"},
        {"@odata.type": ACCOUNT, "name": f"{prefix} bad", "revenue": "lots"},
    ])
    assert resp.status_code == 400
    assert "Cannot convert the literal 'lots'" in resp.json()["error"]["message"]
    assert names(app_api, prefix) == {}


@pytest.mark.parametrize("targets, words", [
    ([{"name": "No type"}], "has no '@odata.type'"),
    ([{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "Wrong"}], "all records must be of the same"),
    ([], "'Targets' is missing or empty"),
])
def test_it_refuses_targets_without_the_right_type(app_api, targets, words):
    resp = action(app_api, "accounts", "CreateMultiple", targets)
    assert resp.status_code == 400
    assert words in resp.json()["error"]["message"]


def test_it_updates_many_records_or_none(app_api):
    prefix = f"Update {uuid.uuid4().hex[:8]}"
    ids = action(app_api, "accounts", "CreateMultiple",
                 [{"@odata.type": ACCOUNT, "name": f"{prefix} {i}"} for i in range(2)]).json()["Ids"]
    resp = action(app_api, "accounts", "UpdateMultiple",
                  [{"@odata.type": ACCOUNT, "accountid": key, "telephone1": "555-0123"} for key in ids])
    assert resp.status_code == 204, resp.text
    assert {r["telephone1"] for r in names(app_api, prefix).values()} == {"555-0123"}

    missing = str(uuid.uuid4())
    resp = action(app_api, "accounts", "UpdateMultiple", [
        {"@odata.type": ACCOUNT, "accountid": ids[0], "telephone1": "555-0999"},
        {"@odata.type": ACCOUNT, "accountid": missing, "telephone1": "555-0999"},
    ])
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "0x80040217"
    assert {r["telephone1"] for r in names(app_api, prefix).values()} == {"555-0123"}
    no_key = action(app_api, "accounts", "UpdateMultiple", [{"@odata.type": ACCOUNT, "name": "Which one?"}])
    assert no_key.status_code == 400


def test_it_upserts_by_key_or_odata_id(app_api):
    prefix = f"Upsert {uuid.uuid4().hex[:8]}"
    (existing,) = action(app_api, "accounts", "CreateMultiple",
                         [{"@odata.type": ACCOUNT, "name": f"{prefix} old"}]).json()["Ids"]
    new_key = str(uuid.uuid4())
    resp = action(app_api, "accounts", "UpsertMultiple", [
        {"@odata.type": ACCOUNT, "@odata.id": f"accounts({existing})", "name": f"{prefix} renamed"},
        {"@odata.type": ACCOUNT, "accountid": new_key, "name": f"{prefix} new"},
    ])
    assert resp.status_code == 204, resp.text
    rows = names(app_api, prefix)
    assert set(rows) == {f"{prefix} renamed", f"{prefix} new"}
    assert rows[f"{prefix} new"]["accountid"] == new_key


def test_it_refuses_the_read_only_table_and_unknown_actions(app_api):
    resp = action(app_api, "activitypointers", "CreateMultiple",
                  [{"@odata.type": "Microsoft.Dynamics.CRM.activitypointer", "subject": "x"}])
    assert resp.status_code == 400
    assert app_api.post("accounts/Microsoft.Dynamics.CRM.DeleteMultiple", {"Targets": []}).status_code == 404
    assert app_api.get("accounts/Microsoft.Dynamics.CRM.CreateMultiple").status_code == 405


def test_it_works_on_a_custom_table_too(app_api):
    name = f"Project {uuid.uuid4().hex[:8]}"
    resp = action(app_api, "cr8a2_projects", "CreateMultiple",
                  [{"@odata.type": "Microsoft.Dynamics.CRM.cr8a2_project", "cr8a2_name": name}])
    assert resp.status_code == 200, resp.text
    (key,) = resp.json()["Ids"]
    assert app_api.ok("GET", f"cr8a2_projects({key})")["cr8a2_name"] == name


@pytest.mark.parametrize("entity_set", ["serviceendpoints", "sdkmessageprocessingsteps", "sdkmessagefilters"])
def test_the_registration_tables_have_no_bulk_messages(app_api, entity_set):
    """Dataverse enables CreateMultiple table by table; asked on a table without it, it answers 400
    with 0x8004800d (the portal's bulk writes then fall back to $batch), not a server error."""
    resp = action(app_api, entity_set, "CreateMultiple", [{"@odata.type": "Microsoft.Dynamics.CRM.x", "name": "x"}])
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "0x8004800d"
    assert "CreateMultiple" in resp.json()["error"]["message"]
    assert app_api.post(f"{entity_set}/Microsoft.Dynamics.CRM.Nothing", {}).status_code == 404
