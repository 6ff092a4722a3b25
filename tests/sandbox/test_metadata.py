"""The Web API's descriptions of itself: service document, JSON errors on unknown paths,
EntityDefinitions with their query options, single tables and attributes, type casts."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .test_batch import answers, http_part, send

ACCOUNT_ID = "70816501-edb9-4740-a16c-6a5efbc05d84"


def test_it_answers_the_service_document_at_the_service_root(app_api):
    body = app_api.ok("GET", "")

    assert body["@odata.context"] == f"{app_api.base}$metadata"
    assert {"name": "accounts", "kind": "EntitySet", "url": "accounts"} in body["value"]
    assert {"cr8a2_projects", "cr8a2_milestones", "EntityDefinitions"} <= {s["name"] for s in body["value"]}


@pytest.mark.parametrize("path", ["nothing-here", "accounts/nope/deeper", "EntityDefinitions/nope"])
def test_unknown_paths_answer_dataverse_json_errors(app_api, path):
    resp = app_api.get(path)

    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("application/json")
    assert resp.json()["error"]["code"] == "0x8006088a"


@pytest.mark.parametrize("where", ["/api/data/v8.0/accounts", "-nowhere/api/data/v9.2/accounts", "/", ""],
                         ids=["other-version", "unknown-environment", "environment-root/", "environment-root"])
def test_paths_beside_the_web_api_answer_json_too(app_api, where):
    resp = app_api.get(app_api.base.replace("/api/data/v9.2/", where))

    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("application/json")
    assert resp.json()["error"]["message"].startswith("Resource not found")


def test_it_selects_and_filters_entity_definitions(app_api):
    body = app_api.ok("GET", "EntityDefinitions?$select=LogicalName,EntitySetName,ChangeTrackingEnabled"
                             "&$filter=IsCustomEntity eq true and ChangeTrackingEnabled eq true")

    assert body["@odata.context"].endswith("#EntityDefinitions(LogicalName,EntitySetName,ChangeTrackingEnabled)")
    assert [(t["LogicalName"], t["EntitySetName"]) for t in body["value"]] == [("cr8a2_project", "cr8a2_projects")]
    assert set(body["value"][0]) == {"MetadataId", "LogicalName", "EntitySetName", "ChangeTrackingEnabled"}
    untracked = app_api.ok("GET", "EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq false "
                                  "and IsCustomEntity eq true")["value"]
    assert [t["LogicalName"] for t in untracked] == ["cr8a2_milestone"]
    managed = app_api.ok("GET", "EntityDefinitions?$select=LogicalName"
                                "&$filter=CanChangeTrackingBeEnabled/Value eq true and LogicalName eq 'account'")
    assert [t["LogicalName"] for t in managed["value"]] == ["account"]


def test_it_refuses_unknown_properties_and_options(app_api):
    resp = app_api.get("EntityDefinitions?$select=LogicalName,Nope")
    assert resp.status_code == 400 and "Nope" in resp.json()["error"]["message"]
    assert app_api.get("EntityDefinitions?$top=2").status_code == 400
    assert app_api.get("EntityDefinitions?$expand=Nope").status_code == 400
    assert app_api.get("EntityDefinitions(LogicalName='nope')").status_code == 404


def test_it_expands_attributes_with_their_own_select_and_filter(app_api):
    body = app_api.ok("GET", "EntityDefinitions?$select=LogicalName,PrimaryIdAttribute&$filter=LogicalName eq "
                             "'account'&$expand=Attributes($select=LogicalName,AttributeType;"
                             "$filter=IsCustomAttribute eq true)")
    (account,) = body["value"]

    assert account["PrimaryIdAttribute"] == "accountid"
    assert {a["LogicalName"]: a["AttributeType"] for a in account["Attributes"]} == {
        "cr8a2_tier": "Picklist", "cr8a2_annualbudget": "Money", "cr8a2_projectid": "Lookup",
        "cr8a2_renewaldate": "DateTime"}


def test_contact_has_the_publishers_columns_too(app_api):
    """A choice, a money, a lookup to a custom table and a date-only column on contact as on account,
    described by the metadata and taken by the data service."""
    base = "EntityDefinitions(LogicalName='contact')/Attributes"
    custom = app_api.ok("GET", f"{base}?$select=LogicalName,AttributeType&$filter=IsCustomAttribute eq true")
    assert {a["LogicalName"]: a["AttributeType"] for a in custom["value"]} == {
        "cr8a2_tier": "Picklist", "cr8a2_preferredchannel": "Picklist", "cr8a2_spendlimit": "Money",
        "cr8a2_projectid": "Lookup", "cr8a2_firstcontactdate": "DateTime"}
    channel = app_api.ok("GET", f"{base}(LogicalName='cr8a2_preferredchannel')/Microsoft.Dynamics.CRM."
                                "PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet")
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in channel["OptionSet"]["Options"]}
    assert labels[100000002] == "Teams" and min(labels) == 100000000  # the publisher's option value prefix
    project = app_api.ok("GET", f"{base}(LogicalName='cr8a2_projectid')/Microsoft.Dynamics.CRM."
                                "LookupAttributeMetadata?$select=Targets")
    assert project["Targets"] == ["cr8a2_project"]
    first = app_api.ok("GET", f"{base}(LogicalName='cr8a2_firstcontactdate')/Microsoft.Dynamics.CRM."
                              "DateTimeAttributeMetadata?$select=DateTimeBehavior,Format")
    assert first["DateTimeBehavior"]["Value"] == "DateOnly" and first["Format"] == "DateOnly"

    some_project = app_api.ok("GET", "cr8a2_projects?$top=1&$select=cr8a2_projectid")["value"][0]["cr8a2_projectid"]
    created = app_api.post("contacts", {"lastname": "Customised", "cr8a2_preferredchannel": 100000002,
                                        "cr8a2_spendlimit": 2500.75, "cr8a2_firstcontactdate": "2025-03-14",
                                        "cr8a2_ProjectId@odata.bind": f"/cr8a2_projects({some_project})"},
                           prefer="return=representation")
    assert created.status_code == 201, created.text
    row = app_api.ok("GET", f"contacts({created.json()['contactid']})")
    assert (row["cr8a2_preferredchannel"], row["cr8a2_spendlimit"], row["cr8a2_firstcontactdate"],
            row["_cr8a2_projectid_value"]) == (100000002, 2500.75, "2025-03-14", some_project)
    refused = app_api.post("contacts", {"lastname": "Customised", "cr8a2_preferredchannel": 5})
    assert refused.status_code == 400 and "cr8a2_preferredchannel" in refused.json()["error"]["message"]


@pytest.mark.parametrize("key", ["LogicalName='account'", ACCOUNT_ID])
def test_it_answers_one_table_by_logical_name_or_metadata_id(app_api, key):
    body = app_api.ok("GET", f"EntityDefinitions({key})")

    assert body["@odata.context"].endswith("#EntityDefinitions/$entity")
    assert body["MetadataId"] == ACCOUNT_ID and body["LogicalName"] == "account" and body["SchemaName"] == "Account"
    assert body["EntitySetName"] == "accounts" and body["PrimaryNameAttribute"] == "name"
    assert body["DisplayName"]["UserLocalizedLabel"]["Label"] == "Account"
    assert body["DisplayName"]["LocalizedLabels"][0]["LanguageCode"] == 1033
    assert body["IsCustomEntity"] is False and body["ChangeTrackingEnabled"] is True
    assert body["CanChangeTrackingBeEnabled"]["Value"] is True and body["ObjectTypeCode"] == 1


def test_it_lists_a_tables_attributes_and_one_attribute(app_api):
    attributes = app_api.ok("GET", "EntityDefinitions(LogicalName='contact')/Attributes")["value"]
    by_name = {a["LogicalName"]: a for a in attributes}
    lastname = by_name["lastname"]
    assert lastname["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert lastname["AttributeTypeName"] == {"Value": "StringType"}
    assert lastname["RequiredLevel"]["Value"] == "ApplicationRequired"
    assert by_name["contactid"]["IsPrimaryId"] and by_name["fullname"]["IsPrimaryName"]
    assert not by_name["fullname"]["IsValidForCreate"] and not by_name["fullname"]["IsValidForUpdate"]
    assert by_name["cr8a2_tier"]["IsCustomAttribute"] and not by_name["firstname"]["IsCustomAttribute"]

    one = app_api.ok("GET", "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='emailaddress1')"
                            "?$select=LogicalName,IsValidForRead")
    assert one["@odata.context"].endswith("/Attributes(LogicalName,IsValidForRead)/$entity")
    assert one["LogicalName"] == "emailaddress1" and one["IsValidForRead"] is True


def test_it_casts_attributes_to_their_types(app_api):
    base = "EntityDefinitions(LogicalName='account')/Attributes"
    picklists = app_api.ok("GET", f"{base}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                                  "?$select=LogicalName&$expand=OptionSet")["value"]
    industry = next(a for a in picklists if a["LogicalName"] == "industrycode")
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in industry["OptionSet"]["Options"]}
    assert labels[1] == "Accounting" and industry["OptionSet"]["Name"] == "account_industrycode"
    assert "statecode" not in {a["LogicalName"] for a in picklists}

    strings = app_api.ok("GET", f"{base}/Microsoft.Dynamics.CRM.StringAttributeMetadata"
                                "?$select=LogicalName,MaxLength&$filter=LogicalName eq 'name'")["value"]
    assert strings == [{"@odata.type": "#Microsoft.Dynamics.CRM.StringAttributeMetadata",
                        "MetadataId": strings[0]["MetadataId"], "LogicalName": "name", "MaxLength": 160}]
    dates = app_api.ok("GET", f"{base}/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"
                              "?$select=LogicalName,DateTimeBehavior")["value"]
    behaviors = {a["LogicalName"]: a["DateTimeBehavior"]["Value"] for a in dates}
    assert behaviors["cr8a2_renewaldate"] == "DateOnly" and behaviors["createdon"] == "UserLocal"
    lookups = app_api.ok("GET", f"{base}/Microsoft.Dynamics.CRM.LookupAttributeMetadata"
                                "?$select=LogicalName,Targets")["value"]
    assert {a["LogicalName"]: a["Targets"] for a in lookups}["cr8a2_projectid"] == ["cr8a2_project"]
    money = app_api.ok("GET", f"{base}(LogicalName='cr8a2_annualbudget')/Microsoft.Dynamics.CRM."
                              "MoneyAttributeMetadata?$select=Precision,MinValue,MaxValue")
    assert money["Precision"] == 2 and money["MaxValue"] == 922337203685477

    # Type-specific properties need the cast, as in Dataverse.
    assert app_api.get(f"{base}?$select=MaxLength").status_code == 400
    assert app_api.get(f"{base}?$expand=OptionSet").status_code == 400


def test_the_data_service_enforces_the_metadata(app_api):
    missing = app_api.post("contacts", {"firstname": "No last name"})
    assert missing.status_code == 400 and "lastname" in missing.json()["error"]["message"]
    too_long = app_api.post("accounts", {"name": "x" * 161})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "0x80044331"
    bad_choice = app_api.post("accounts", {"name": "Tiered", "cr8a2_tier": 7})
    assert bad_choice.status_code == 400 and "cr8a2_tier" in bad_choice.json()["error"]["message"]
    bad_date = app_api.post("accounts", {"name": "Dated", "cr8a2_renewaldate": "soon"})
    assert bad_date.status_code == 400 and "Edm.Date" in bad_date.json()["error"]["message"]
    read_only = app_api.post("contacts", {"lastname": "Gu", "fullname": "Lee Gu"})
    assert read_only.status_code == 400 and "read-only" in read_only.json()["error"]["message"]
    created = app_api.post("accounts", {"name": "Gold customer", "cr8a2_tier": 100000002},
                           prefer="return=representation")
    assert created.status_code == 201 and created.json()["cr8a2_tier"] == 100000002
    cleared = app_api.patch(f"accounts({created.json()['accountid']})", {"name": None})
    assert cleared.status_code == 400 and "required" in cleared.json()["error"]["message"]


def test_it_filters_attributes_by_type_with_an_enumeration_literal(app_api):
    body = app_api.ok("GET", "EntityDefinitions(LogicalName='cr8a2_milestone')/Attributes?$select=LogicalName"
                             "&$filter=AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Lookup'")

    assert {a["LogicalName"] for a in body["value"]} == {"cr8a2_projectid", "owningbusinessunit", "createdby",
                                                         "modifiedby"}


def test_a_connector_reads_date_time_behaviour_through_a_batch(app_api):
    """As off-the-shelf connectors do: metadata GETs inside $batch."""
    path = ("EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"
            "?$select=LogicalName,DateTimeBehavior")
    (answer,) = answers(send(app_api, [http_part("GET", app_api.base + quote(path, safe="/?=&$,()'"))]))

    assert answer.status == 200
    behaviors = {a["LogicalName"]: a["DateTimeBehavior"]["Value"] for a in answer.json()["value"]}
    assert behaviors == {"cr8a2_renewaldate": "DateOnly", "createdon": "UserLocal", "modifiedon": "UserLocal"}
