"""Table descriptions from an environment's metadata (EntityDefinitions as Dataverse answers them)."""

from __future__ import annotations

import pytest

from setup_portal.crm.errors import QueryError
from setup_portal.crm.resources import to_dataverse
from setup_portal.crm.tables import Catalogue, UnknownTable, describe_field


def _label(text: str) -> dict:
    return {"UserLocalizedLabel": {"Label": text, "LanguageCode": 1033}, "LocalizedLabels": []}


def _attribute(name: str, kind: str, **extra) -> dict:
    return {"LogicalName": name, "AttributeType": kind, "DisplayName": _label(name.title()),
            "RequiredLevel": {"Value": extra.pop("required", "None")}, "IsValidForCreate": extra.pop("create", True),
            "IsValidForUpdate": extra.pop("update", True), "IsValidForRead": True, "AttributeOf": None, **extra}


DEFINITIONS = {
    "tables": [
        {"LogicalName": "new_widget", "EntitySetName": "new_widgets", "DisplayName": _label("Widget"),
         "DisplayCollectionName": _label("Widgets"), "IsCustomEntity": True, "PrimaryIdAttribute": "new_widgetid",
         "PrimaryNameAttribute": "new_name", "ChangeTrackingEnabled": False, "Attributes": [
             _attribute("new_widgetid", "Uniqueidentifier", update=False),
             _attribute("new_name", "String", MaxLength=20, required="ApplicationRequired"),
             _attribute("new_notes", "Memo", MaxLength=2000),
             _attribute("new_count", "Integer", MinValue=0, MaxValue=10),
             _attribute("new_price", "Money", Precision=2, MinValue=0, MaxValue=1000),
             _attribute("new_due", "DateTime", Format="DateOnly", DateTimeBehavior={"Value": "DateOnly"}),
             _attribute("new_seen", "DateTime", Format="DateAndTime", DateTimeBehavior={"Value": "UserLocal"}),
             _attribute("new_size", "Picklist", OptionSet={"Options": [
                 {"Value": 1, "Label": _label("Small")}, {"Value": 2, "Label": _label("Large")}]}),
             _attribute("new_serial", "String", MaxLength=10, update=False),
             _attribute("new_accountid", "Lookup", Targets=["account"]),
             _attribute("new_accountidname", "String", AttributeOf="new_accountid"),
             _attribute("new_image", "Virtual"),
         ]},
        {"LogicalName": "account", "EntitySetName": "accounts", "DisplayName": _label("Account"),
         "IsCustomEntity": False, "PrimaryIdAttribute": "accountid", "PrimaryNameAttribute": "name",
         "ChangeTrackingEnabled": True, "Attributes": [
             _attribute("accountid", "Uniqueidentifier"), _attribute("name", "String", MaxLength=160),
             _attribute("telephone1", "String", MaxLength=50), _attribute("fax", "String", MaxLength=50),
             _attribute("industrycode", "Picklist",
                        OptionSet={"Options": [{"Value": 1, "Label": _label("Accounting")}]}),
         ]},
    ],
    "navigation": {"new_widget": {"_new_accountid_value": {"new_AccountId": "account"}}},
}


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.from_definitions(DEFINITIONS)


def test_it_describes_tables_and_types_their_columns(catalogue):
    widget = catalogue.table("new_widgets")
    assert widget is catalogue.table("new_widget") and widget.summary() == {
        "name": "new_widget", "entitySet": "new_widgets", "displayName": "Widget", "custom": True,
        "primaryIdField": "new_widgetid", "primaryNameField": "new_name", "changeTracking": False, "writable": True}
    resource = widget.resource
    types = {f.name: f.type for f in resource.fields}
    assert types == {"id": "guid", "new_accountid": "lookup", "new_count": "int", "new_due": "date",
                     "new_name": "string", "new_notes": "string", "new_price": "decimal", "new_seen": "datetime",
                     "new_serial": "string", "new_size": "int"}  # no Virtual column, no name companion
    assert resource.field("new_accountid").navigation == {"new_AccountId": "accounts"}
    assert resource.field("new_notes").sortable is False
    serial = describe_field(resource.field("new_serial"))
    assert serial["createOnly"] is True and serial["maxLength"] == 10
    assert describe_field(resource.field("new_size"))["choices"] == [{"value": 1, "label": "Small"},
                                                                     {"value": 2, "label": "Large"}]


def test_it_converts_bodies_by_the_metadata(catalogue):
    resource = catalogue.resource("new_widgets")
    body = to_dataverse({"new_name": "W", "new_size": "large", "new_price": 9.99, "new_due": "2025-01-31",
                         "new_accountid": {"table": "accounts", "id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"}},
                        resource, creating=True)
    assert body == {"new_name": "W", "new_size": 2, "new_price": 9.99, "new_due": "2025-01-31",
                    "new_AccountId@odata.bind": "/accounts(0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0)"}
    for bad, words in [({"new_count": 11}, "between 0 and 10"), ({"new_price": 1.234}, "2 decimal places"),
                       ({"new_name": "x" * 21}, "at most 20 characters"), ({"new_size": 3}, "1 (Small), 2 (Large)"),
                       ({"new_nmae": "x"}, "Did you mean 'new_name'")]:
        with pytest.raises(QueryError) as caught:
            to_dataverse(bad, resource, creating=True)
        assert words in caught.value.message
    with pytest.raises(QueryError, match="'new_serial' is set when a record is created"):
        to_dataverse({"new_serial": "x"}, resource, creating=False)


def test_it_puts_friendly_resources_on_top_of_their_table(catalogue):
    accounts = catalogue.resource("accounts")
    assert accounts.field("telephone1") is accounts.field("phone") and accounts.field("phone").max_length == 50
    assert accounts.field("industry").choices == ((1, "Accounting"),)
    assert accounts.field("fax").column == "fax"
    assert "fax" not in [f.name for f in accounts.fields[:accounts.defaults]]
    with pytest.raises(UnknownTable) as caught:
        catalogue.resource("new_widgest")
    assert caught.value.closest == ["new_widget", "new_widgets"]
