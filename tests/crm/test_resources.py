"""The resource catalogue: its columns exist, rows become API records, API bodies become Web API bodies."""

from __future__ import annotations

import pytest

from setup_portal.crm.errors import QueryError
from setup_portal.crm.query import select_option
from setup_portal.crm.resources import ACCOUNTS, CONTACTS, RESOURCES, TASKS, to_dataverse, to_record
from setup_portal.sandbox.data.schema import TABLES

FOURTH_COFFEE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
ADELE = "2669c436-a44b-4378-847e-056637807138"
# How the sandbox's column kinds read in the catalogue.
KINDS = {"string": "string", "memo": "string", "money": "decimal", "decimal": "decimal", "int": "int",
         "bigint": "int", "choice": "int", "bool": "bool", "datetime": "datetime", "date": "date", "guid": "guid",
         "lookup": "lookup"}


def test_it_names_the_seven_resources():
    assert {name: (r.entity_set, r.key, r.writable) for name, r in RESOURCES.items()} == {
        "accounts": ("accounts", "accountid", True), "contacts": ("contacts", "contactid", True),
        "leads": ("leads", "leadid", True), "opportunities": ("opportunities", "opportunityid", True),
        "tasks": ("tasks", "activityid", True), "notes": ("annotations", "annotationid", True),
        "activities": ("activitypointers", "activityid", False)}


@pytest.mark.parametrize("name", list(RESOURCES))
def test_it_uses_the_columns_types_and_navigation_of_the_dataverse_tables(name):
    resource = RESOURCES[name]
    table = TABLES[resource.entity_set]
    assert resource.fields[0].name == "id" and resource.fields[0].column == table.primary_key
    for f in resource.fields:
        column = table.column(f.column)
        assert column is not None, f.column
        assert KINDS[column.kind] == f.type, f.name
        assert f.read_only or not column.read_only or not resource.writable, f.name
        if f.type == "lookup" and not f.read_only:
            assert f.navigation == column.navigation, f.name


@pytest.mark.parametrize("name", list(RESOURCES))
def test_it_reads_every_field_from_the_sandbox(dataverse, name):
    resource = RESOURCES[name]

    row = dataverse.ok(resource.entity_set, {"$select": select_option(resource), "$top": "1"})["value"][0]
    record = to_record(row, resource)

    assert list(record) == [*resource.field_names, "_etag"]
    assert record["id"] == row[resource.key] and record["_etag"] == row["@odata.etag"]


def test_it_turns_a_row_into_a_record():
    row = {"@odata.etag": 'W/"42"', "accountid": FOURTH_COFFEE, "name": "Fourth Coffee", "address1_city": None,
           "revenue": 1500000.0, "revenue@OData.Community.Display.V1.FormattedValue": "$1,500,000.00",
           "versionnumber": 42}

    assert to_record(row, ACCOUNTS) == {"id": FOURTH_COFFEE, "name": "Fourth Coffee", "city": None,
                                        "revenue": 1500000.0, "_etag": 'W/"42"'}
    assert to_record(row, ACCOUNTS, drop_nulls=True) == {"id": FOURTH_COFFEE, "name": "Fourth Coffee",
                                                         "revenue": 1500000.0, "_etag": 'W/"42"'}


def test_it_turns_a_body_into_a_web_api_body():
    body = {"name": "Tailspin", "revenue": 12.5, "employees": 10.0, "creditOnHold": False, "city": None,
            "parentAccountId": FOURTH_COFFEE.upper(), "ownerId": ADELE, "_etag": 'W/"1"'}

    assert to_dataverse(body, ACCOUNTS, creating=True) == {
        "name": "Tailspin", "revenue": 12.5, "numberofemployees": 10, "creditonhold": False, "address1_city": None,
        "parentaccountid@odata.bind": f"/accounts({FOURTH_COFFEE})", "ownerid@odata.bind": f"/systemusers({ADELE})"}
    assert to_dataverse({"id": FOURTH_COFFEE}, ACCOUNTS, creating=True) == {"accountid": FOURTH_COFFEE}


def test_it_binds_lookups_that_point_to_several_tables():
    assert to_dataverse({"parentCustomerId": {"type": "account", "id": FOURTH_COFFEE}}, CONTACTS, creating=False) \
        == {"parentcustomerid_account@odata.bind": f"/accounts({FOURTH_COFFEE})"}
    assert to_dataverse({"regardingId": {"type": "opportunities", "id": FOURTH_COFFEE}}, TASKS, creating=False) \
        == {"regardingobjectid_opportunity_task@odata.bind": f"/opportunities({FOURTH_COFFEE})"}
    assert to_dataverse({"regardingId": None}, TASKS, creating=False) == {
        "regardingobjectid_account_task@odata.bind": None}


def test_it_writes_dates_and_date_times_as_dataverse_reads_them():
    assert to_dataverse({"birthDate": "1990-05-01"}, CONTACTS, creating=True) == {"birthdate": "1990-05-01"}
    assert to_dataverse({"dueDate": "2025-03-01T10:30:00+01:00"}, TASKS, creating=True) == {
        "scheduledend": "2025-03-01T09:30:00Z"}
    assert to_dataverse({"dueDate": "2025-03-01T10:30:00.5"}, TASKS, creating=True) == {
        "scheduledend": "2025-03-01T10:30:00.5Z"}


@pytest.mark.parametrize(("resource", "body", "words", "field"), [
    (ACCOUNTS, {"nmae": "x"}, "accounts have no writable field 'nmae'. Did you mean 'name'?", "nmae"),
    (ACCOUNTS, {"accountid": FOURTH_COFFEE}, "no writable field 'accountid'", "accountid"),
    (ACCOUNTS, {"createdOn": "2025-01-01T00:00:00Z"}, "'createdOn' is read-only", "createdOn"),
    (CONTACTS, {"fullName": "A B"}, "'fullName' is read-only", "fullName"),
    (ACCOUNTS, {"name": 5}, "'name' must be a string", "name"),
    (ACCOUNTS, {"name": "a\x00b"}, "NUL character", "name"),
    (ACCOUNTS, {"revenue": "5"}, "'revenue' must be a number", "revenue"),
    (ACCOUNTS, {"revenue": True}, "'revenue' must be a number", "revenue"),
    (ACCOUNTS, {"revenue": float("inf")}, "'revenue' must be a number", "revenue"),
    (ACCOUNTS, {"revenue": 1e16}, "'revenue' must be between", "revenue"),
    (ACCOUNTS, {"employees": 1.5}, "'employees' must be a whole number", "employees"),
    (ACCOUNTS, {"employees": 2**31}, "'employees' must be between", "employees"),
    (ACCOUNTS, {"creditOnHold": "yes"}, "'creditOnHold' must be true or false", "creditOnHold"),
    (ACCOUNTS, {"id": "not-a-guid"}, "'id' must be a GUID", "id"),
    (ACCOUNTS, {"id": None}, "'id' cannot be null", "id"),
    (ACCOUNTS, {"parentAccountId": "Fourth Coffee"}, "'parentAccountId' must be a GUID", "parentAccountId"),
    (ACCOUNTS, {"parentAccountId": 5}, "'parentAccountId' takes \"<guid>\" (it can point to account)",
     "parentAccountId"),
    (ACCOUNTS, {"parentAccountId": {"type": "contact", "id": FOURTH_COFFEE}},
     "'parentAccountId' can point to account, not 'contact'", "parentAccountId"),
    (CONTACTS, {"parentCustomerId": FOURTH_COFFEE},
     "'parentCustomerId' takes {\"table\": \"account\", \"id\": \"<guid>\"} (it can point to account or contact)",
     "parentCustomerId"),
    (CONTACTS, {"parentCustomerId": {"type": "account"}}, "takes {\"table\"", "parentCustomerId"),
    (CONTACTS, {"birthDate": "1990-02-30"}, "'birthDate' must be a date such as 2025-03-01", "birthDate"),
    (TASKS, {"dueDate": "tomorrow"}, "'dueDate' must be an ISO 8601 date-time", "dueDate"),
    (TASKS, {"dueDate": 20250301}, "'dueDate' must be an ISO 8601 date-time", "dueDate"),
])
def test_it_refuses_bodies_it_cannot_send(resource, body, words, field):
    with pytest.raises(QueryError) as caught:
        to_dataverse(body, resource, creating=True)
    assert words in caught.value.message
    assert caught.value.param == "body" and caught.value.field == field


def test_it_refuses_the_key_on_updates_and_writes_to_activities():
    with pytest.raises(QueryError) as caught:
        to_dataverse({"id": FOURTH_COFFEE}, ACCOUNTS, creating=False)
    assert "id" not in caught.value.known and "name" in caught.value.known
    with pytest.raises(QueryError, match="activities are read-only here"):
        to_dataverse({"subject": "x"}, RESOURCES["activities"], creating=True)
    with pytest.raises(QueryError, match="must be a JSON object"):
        to_dataverse(["name"], ACCOUNTS, creating=True)


def test_it_round_trips_records_through_the_sandbox(dataverse):
    """Bodies made here are what the Web API accepts, and what it returns reads back as sent."""
    body = {"firstName": "Ada", "lastName": "O'Neil", "birthDate": "1990-05-01", "email": "ada@example.com",
            "parentCustomerId": {"type": "account", "id": FOURTH_COFFEE}, "ownerId": ADELE, "state": 0}
    created = dataverse.request("POST", "contacts", json=to_dataverse(body, CONTACTS, creating=True),
                                headers={"Prefer": "return=representation"})
    assert created.status_code == 201, created.text
    record = to_record(created.json(), CONTACTS)
    assert {k: record[k] for k in ("firstName", "lastName", "fullName", "birthDate", "parentCustomerId", "ownerId")} \
        == {"firstName": "Ada", "lastName": "O'Neil", "fullName": "Ada O'Neil", "birthDate": "1990-05-01",
            "parentCustomerId": FOURTH_COFFEE, "ownerId": ADELE}

    change = to_dataverse({"parentCustomerId": None, "jobTitle": "CTO", "_etag": record["_etag"]}, CONTACTS,
                          creating=False)
    updated = dataverse.request("PATCH", f"contacts({record['id']})", json=change,
                                headers={"Prefer": "return=representation", "If-Match": record["_etag"]})
    assert updated.status_code == 200, updated.text
    after = to_record(updated.json(), CONTACTS, drop_nulls=True)
    assert after["jobTitle"] == "CTO" and "parentCustomerId" not in after and after["_etag"] != record["_etag"]


def test_it_binds_regarding_lookups_the_sandbox_accepts(dataverse):
    task = to_dataverse({"subject": "Call", "dueDate": "2026-01-05T09:00:00Z", "priority": 2, "percentComplete": 10,
                         "regardingId": {"type": "account", "id": FOURTH_COFFEE}}, TASKS, creating=True)
    note = to_dataverse({"subject": "Met", "text": "Prices", "isDocument": False,
                         "regardingId": {"type": "account", "id": FOURTH_COFFEE}}, RESOURCES["notes"], creating=True)
    for entity_set, body, resource in (("tasks", task, TASKS), ("annotations", note, RESOURCES["notes"])):
        resp = dataverse.request("POST", entity_set, json=body, headers={"Prefer": "return=representation"})
        assert resp.status_code == 201, resp.text
        assert to_record(resp.json(), resource)["regardingId"] == FOURTH_COFFEE
