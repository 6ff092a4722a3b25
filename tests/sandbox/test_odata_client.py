"""The sandbox's Web API through an off-the-shelf OData v4 client (python-odata), which builds its
entity classes from $metadata alone: what the CSDL declares is what the data service accepts."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from odata import ODataService
from odata.flags import ODataServerFlags

from .conftest import FOURTH_COFFEE, make_changes

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
# A value of each Edm type that every column of that type accepts.
SAMPLES = {"Edm.String": "Sandbox", "Edm.Int32": 1, "Edm.Int64": 1, "Edm.Decimal": 10.5, "Edm.Boolean": True,
           "Edm.Date": "2025-05-01", "Edm.DateTimeOffset": "2025-05-01T10:00:00Z"}


@pytest.fixture
def service(app_api) -> ODataService:
    flags = ODataServerFlags(skip_null_properties=True)
    return ODataService(app_api.base, session=app_api.session, reflect_entities=True, quiet_progress=True,
                        extra_headers={"Prefer": "return=representation"}, server_flags=flags)


@pytest.fixture
def csdl(app_api) -> ET.Element:
    resp = app_api.get("$metadata")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/xml")
    return ET.fromstring(resp.content)


def test_it_reflects_every_entity_set_of_the_service_document(app_api, service):
    listed = {s["name"] for s in app_api.ok("GET", "")["value"]}

    assert set(service.entities) == listed
    assert {"accounts", "cr8a2_projects", "cr8a2_milestones", "EntityDefinitions"} <= listed


def test_it_reads_filters_creates_and_reads_back(service):
    Account = service.entities["accounts"]

    fourth = service.query(Account).filter(Account.name == "Fourth Coffee").one()
    assert str(fourth.accountid) == FOURTH_COFFEE and fourth.cr8a2_tier == 100000002

    account = Account()
    account.name = "Made through python-odata"
    account.cr8a2_annualbudget = 12000.5
    account.cr8a2_renewaldate = "2026-06-30"
    service.save(account)
    again = service.query(Account).get(account.accountid)

    assert again.name == "Made through python-odata" and float(again.cr8a2_annualbudget) == 12000.5
    assert again.cr8a2_renewaldate == "2026-06-30"


# Webhook registration (issue 24): written only by a System Administrator with values the step rules check
# (tests/sandbox/test_plugins.py), not from the required columns alone.
PLUGIN_REGISTRATION = {"serviceendpoint", "sdkmessageprocessingstep"}


def test_it_walks_each_entity_set_creating_a_row_from_the_required_columns(app_api, csdl):
    """For every table that takes new rows: the required columns from EntityDefinitions, their types
    and lookups' navigation properties from $metadata, a row created with just those, read back."""
    types = {t.get("Name"): t for t in csdl.iter(f"{EDM}EntityType")}
    tables = app_api.ok("GET", "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
                               "&$expand=Attributes($select=LogicalName,RequiredLevel,IsValidForCreate,"
                               "AttributeType)")["value"]
    sets = {t["LogicalName"]: t["EntitySetName"] for t in tables}
    served = {s["name"] for s in app_api.ok("GET", "")["value"]}
    walked = []
    for table in tables:
        creatable = [a for a in table["Attributes"] if a["IsValidForCreate"]]
        if table["EntitySetName"] not in served or not creatable or table["LogicalName"] in PLUGIN_REGISTRATION:
            continue
        entity_type = types[table["LogicalName"]]
        props = {p.get("Name"): p.get("Type") for p in entity_type.iter(f"{EDM}Property")}
        navs = {n.find(f"{EDM}ReferentialConstraint").get("Property"): n
                for n in entity_type.iter(f"{EDM}NavigationProperty") if n.find(f"{EDM}ReferentialConstraint")
                is not None}
        body = {}
        for attribute in creatable:
            name, kind = attribute["LogicalName"], attribute["AttributeType"]
            if attribute["RequiredLevel"]["Value"] == "None" or kind in {"Owner", "State"}:
                continue
            if kind in {"Lookup", "Customer"}:
                nav = navs[f"_{name}_value"]
                target = sets[nav.get("Type").removeprefix("mscrm.")]
                referenced = nav.find(f"{EDM}ReferentialConstraint").get("ReferencedProperty")
                row = app_api.ok("GET", f"{target}?$top=1")["value"][0]
                body[f"{nav.get('Name')}@odata.bind"] = f"/{target}({row[referenced]})"
            else:
                body[name] = SAMPLES[props[name]]
        resp = app_api.post(table["EntitySetName"], body, prefer="return=representation")
        assert resp.status_code == 201, (table["LogicalName"], resp.text)
        key = resp.json()[table["PrimaryIdAttribute"]]
        assert app_api.ok("GET", f"{table['EntitySetName']}({key})")[table["PrimaryIdAttribute"]] == key
        walked.append(table["LogicalName"])
    assert set(walked) == {"account", "contact", "lead", "opportunity", "task", "annotation", "cr8a2_project",
                           "cr8a2_milestone"}


# A value of each AttributeType that an update could carry, were the column writable.
UPDATE_SAMPLES = {"String": "Sandbox", "Memo": "Sandbox", "DateTime": "2025-05-01T10:00:00Z", "BigInt": 5,
                  "Integer": 5, "Boolean": True, "Money": 1.5, "Decimal": 1.5}


@pytest.mark.parametrize("table", ["account", "contact", "cr8a2_project", "cr8a2_milestone"])
def test_an_update_may_not_set_what_the_metadata_says_is_not_valid_for_update(app_api, csdl, table):
    """Every attribute EntityDefinitions calls IsValidForUpdate false is refused in a PATCH, lookups
    through the navigation property $metadata gives them."""
    definition = app_api.ok("GET", f"EntityDefinitions(LogicalName='{table}')?$select=EntitySetName,"
                                   "PrimaryIdAttribute&$expand=Attributes($select=LogicalName,AttributeType,"
                                   "IsValidForUpdate;$filter=IsValidForUpdate eq false)")
    sets = {t["LogicalName"]: t["EntitySetName"] for t in app_api.ok("GET", "EntityDefinitions?$select=LogicalName,"
                                                                            "EntitySetName")["value"]}
    entity_type = next(t for t in csdl.iter(f"{EDM}EntityType") if t.get("Name") == table)
    navs = {n.find(f"{EDM}ReferentialConstraint").get("Property"): n
            for n in entity_type.iter(f"{EDM}NavigationProperty") if n.find(f"{EDM}ReferentialConstraint")
            is not None}
    entity_set = definition["EntitySetName"]
    key = app_api.ok("GET", f"{entity_set}?$top=1")["value"][0][definition["PrimaryIdAttribute"]]
    refused = []
    for attribute in definition["Attributes"]:
        name, kind = attribute["LogicalName"], attribute["AttributeType"]
        if kind == "Lookup":
            nav = navs[f"_{name}_value"]
            body = {f"{nav.get('Name')}@odata.bind": f"/{sets[nav.get('Type').removeprefix('mscrm.')]}({uuid.uuid4()})"}
        else:
            body = {name: UPDATE_SAMPLES[kind]}
        resp = app_api.patch(f"{entity_set}({key})", body)
        assert resp.status_code == 400 and "read-only" in resp.json()["error"]["message"], (name, resp.text)
        refused.append(name)
    assert {"createdon", "modifiedon", "versionnumber", "createdby", "modifiedby"} <= set(refused)


def test_the_csdl_declares_keys_types_navigation_partners_and_operations(csdl):
    types = {t.get("Name"): t for t in csdl.iter(f"{EDM}EntityType")}
    account = types["account"]
    assert account.find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "accountid"
    props = {p.get("Name"): p.attrib for p in account.iter(f"{EDM}Property")}
    assert props["name"]["MaxLength"] == "160" and props["revenue"]["Type"] == "Edm.Decimal"
    assert props["cr8a2_renewaldate"]["Type"] == "Edm.Date" and props["_cr8a2_projectid_value"]["Type"] == "Edm.Guid"
    navs = {n.get("Name"): n for t in types.values() for n in t.iter(f"{EDM}NavigationProperty")
            if t.get("Name") in {"account", "cr8a2_project"}}
    main_project = navs["cr8a2_ProjectId"]
    assert main_project.get("Type") == "mscrm.cr8a2_project"
    back = navs[main_project.get("Partner")]
    assert back.get("Type") == "Collection(mscrm.account)" and back.get("Partner") == "cr8a2_ProjectId"
    actions = {a.get("Name"): a for a in csdl.iter(f"{EDM}Action")}
    for name in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
        assert actions[name].get("IsBound") == "true"
        assert actions[name].find(f"{EDM}Parameter").get("Type") == "Collection(mscrm.crmbaseentity)"
    assert {f.get("Name") for f in csdl.iter(f"{EDM}Function")} >= {"WhoAmI", "RetrieveCurrentOrganization"}


def test_every_type_the_csdl_names_is_declared(csdl):
    """A reference check, as CSDL validators do: keys name properties, every type is declared or Edm."""
    schema = csdl.find(f"{{http://docs.oasis-open.org/odata/ns/edmx}}DataServices/{EDM}Schema")
    declared = {f"mscrm.{e.get('Name')}" for e in schema if e.get("Name")}
    for node in schema.iter():
        for attr in ("Type", "BaseType", "EntityType"):
            name = node.get(attr)
            if name:
                inner = name.removeprefix("Collection(").removesuffix(")")
                assert inner.startswith("Edm.") or inner in declared, (node.tag, name)
    types = {f"mscrm.{t.get('Name')}": t for t in schema.iter(f"{EDM}EntityType")}

    def members(type_name: str, tag: str) -> dict[str, ET.Element]:
        """Properties or navigation properties of a type, its base types' included."""
        found: dict[str, ET.Element] = {}
        while type_name:
            found |= {m.get("Name"): m for m in types[type_name].iter(f"{EDM}{tag}")}
            type_name = types[type_name].get("BaseType")
        return found

    for name, entity_type in types.items():
        properties = members(name, "Property")
        for ref in entity_type.iter(f"{EDM}PropertyRef"):
            assert ref.get("Name") in properties, name
        for nav in entity_type.iter(f"{EDM}NavigationProperty"):
            target = nav.get("Type").removeprefix("Collection(").removesuffix(")")
            if nav.get("Partner"):
                back = members(target, "NavigationProperty")[nav.get("Partner")]
                assert back.get("Partner") == nav.get("Name"), (name, nav.get("Name"))
            for constraint in nav.iter(f"{EDM}ReferentialConstraint"):
                assert constraint.get("Property") in properties, (name, nav.get("Name"))
                assert constraint.get("ReferencedProperty") in members(target, "Property"), (name, nav.get("Name"))
    sets = {s.get("Name"): s for s in schema.iter(f"{EDM}EntitySet")}
    for entity_set in sets.values():
        navs = members(entity_set.get("EntityType"), "NavigationProperty")
        for binding in entity_set.iter(f"{EDM}NavigationPropertyBinding"):
            assert binding.get("Path") in navs and binding.get("Target") in sets, binding.attrib


def test_custom_tables_work_like_standard_ones_with_change_tracking_on_the_tracked_one(service, app_api):
    Project = service.entities["cr8a2_projects"]
    project = Project()
    project.cr8a2_name = "Espresso rollout"
    project.cr8a2_phase = 100000001
    project.cr8a2_startdate = date(2025, 9, 1).isoformat()
    service.save(project)
    found = service.query(Project).filter(Project.cr8a2_name == "Espresso rollout").one()
    assert found.cr8a2_projectid == project.cr8a2_projectid

    first = app_api.ok("GET", "cr8a2_projects?$select=cr8a2_name", prefer="odata.track-changes")
    app_api.patch(f"cr8a2_projects({project.cr8a2_projectid})", {"cr8a2_phase": 100000003})
    delta = app_api.ok("GET", first["@odata.deltaLink"])
    assert [r["cr8a2_projectid"] for r in delta["value"]] == [str(project.cr8a2_projectid)]

    refused = app_api.get("cr8a2_milestones?$select=cr8a2_name", prefer="odata.track-changes")
    assert refused.status_code == 400 and "Change tracking is not enabled" in refused.json()["error"]["message"]


def test_a_custom_lookup_binds_through_its_schema_named_navigation_property(app_api):
    project = app_api.ok("GET", "cr8a2_projects?$top=1&$select=cr8a2_projectid")["value"][0]["cr8a2_projectid"]
    resp = app_api.post("cr8a2_milestones", {"cr8a2_name": "Go-live", "cr8a2_ProjectId@odata.bind":
                                             f"/cr8a2_projects({project})"}, prefer="return=representation")
    assert resp.status_code == 201 and resp.json()["_cr8a2_projectid_value"] == project
    wrong = app_api.post("cr8a2_milestones", {"cr8a2_name": "Go-live", "cr8a2_projectid@odata.bind":
                                              f"/cr8a2_projects({project})"})
    assert wrong.status_code == 400
    missing = app_api.post("cr8a2_milestones", {"cr8a2_ProjectId@odata.bind": f"/cr8a2_projects({uuid.uuid4()})",
                                                "cr8a2_name": "x"})
    assert missing.status_code == 404


def test_the_change_generator_changes_the_custom_tables_too(app_api, sbx):
    first = app_api.ok("GET", "cr8a2_projects?$select=cr8a2_name", prefer="odata.track-changes")
    done = make_changes(sbx, cr8a2_projects={"create": 1, "update": 1, "delete": 1},
                        cr8a2_milestones={"create": 2, "update": 1}, seed=3)

    assert sorted((c["table"], c["op"]) for c in done) == [
        ("cr8a2_milestones", "create"), ("cr8a2_milestones", "create"), ("cr8a2_milestones", "update"),
        ("cr8a2_projects", "create"), ("cr8a2_projects", "delete"), ("cr8a2_projects", "update")]
    delta = app_api.ok("GET", first["@odata.deltaLink"])["value"]
    # One entry per project changed: the generator may update the row it just created, or delete one it
    # updated (which rows it picks depends on what earlier tests left), so the ids decide what is expected.
    projects = [c for c in done if c["table"] == "cr8a2_projects"]
    deleted = {c["id"] for c in projects if c["op"] == "delete"}
    changed = {c["id"] for c in projects} - deleted
    assert {r["id"] for r in delta if r.get("reason") == "deleted"} == deleted
    assert {r["cr8a2_projectid"] for r in delta if "reason" not in r} == changed
