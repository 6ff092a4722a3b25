"""The sandbox Dataverse's tables over real HTTP with msal tokens: round trips for every table,
query options, paging, etags and upserts, errors in Dataverse's shape."""

from __future__ import annotations

import re
import uuid

import pytest

from .conftest import APP_USER_ID, FOURTH_COFFEE

WRITABLE = ["accounts", "contacts", "leads", "opportunities", "tasks", "annotations"]
KEYS = {"accounts": "accountid", "contacts": "contactid", "leads": "leadid", "opportunities": "opportunityid",
        "tasks": "activityid", "annotations": "annotationid", "activitypointers": "activityid"}
NEW_ROWS = {
    "accounts": ({"name": "Round Trip Ltd.", "revenue": 125000.5, "creditonhold": False, "industrycode": 7},
                 {"telephone1": "555-0199"}),
    "contacts": ({"firstname": "Ada", "lastname": "Round", "emailaddress1": "ada@example.com",
                  "parentcustomerid_account@odata.bind": f"/accounts({FOURTH_COFFEE})"}, {"jobtitle": "Buyer"}),
    "leads": ({"subject": "Wants espresso", "firstname": "Lin", "lastname": "Trip", "estimatedamount": 900},
              {"statecode": 2, "statuscode": 4}),
    "opportunities": ({"name": "12 grinders", "estimatedvalue": 4800, "estimatedclosedate": "2026-12-01",
                       "customerid_account@odata.bind": f"/accounts({FOURTH_COFFEE})"}, {"closeprobability": 60}),
    "tasks": ({"subject": "Call Ada", "scheduledend": "2026-12-02T09:30:00Z", "prioritycode": 2,
               "regardingobjectid_account_task@odata.bind": f"/accounts({FOURTH_COFFEE})"},
              {"statecode": 1, "statuscode": 5}),
    "annotations": ({"subject": "Call notes", "notetext": "Asked for a quote.",
                     "objectid_account@odata.bind": f"/accounts({FOURTH_COFFEE})"}, {"notetext": "Quote sent."}),
}


@pytest.mark.parametrize("table", WRITABLE)
def test_it_round_trips_every_table(app_api, table):
    body, change = NEW_ROWS[table]
    created = app_api.post(table, body)
    assert created.status_code == 204, created.text
    entity_id = created.headers["OData-EntityId"]
    assert entity_id.startswith(app_api.base + table + "(")
    key = entity_id.rsplit("(", 1)[1].rstrip(")")

    row = app_api.ok("GET", f"{table}({key})")
    assert row["@odata.context"].endswith(f"$metadata#{table}/$entity")
    assert row[KEYS[table]] == key
    assert row["_ownerid_value"] == APP_USER_ID and row["createdon"] == row["modifiedon"]
    for name, value in body.items():
        if "@" not in name:
            assert row[name] == value, name

    assert app_api.patch(f"{table}({key})", change).status_code == 204
    changed = app_api.ok("GET", f"{table}({key})")
    assert all(changed[name] == value for name, value in change.items())
    assert int(changed["versionnumber"]) > int(row["versionnumber"])
    assert changed["@odata.etag"] == f'W/"{changed["versionnumber"]}"' != row["@odata.etag"]

    assert app_api.delete(f"{table}({key})").status_code == 204
    gone = app_api.get(f"{table}({key})")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "0x80040217"


def test_it_keeps_lookups_and_derived_columns(app_api):
    key = _create(app_api, "contacts", NEW_ROWS["contacts"][0])
    row = app_api.ok("GET", f"contacts({key})?$select=fullname,_parentcustomerid_value",
                     prefer='odata.include-annotations="*"')
    assert row["fullname"] == "Ada Round"
    assert row["_parentcustomerid_value"] == FOURTH_COFFEE
    assert row["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"] == "Fourth Coffee"
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == \
        "parentcustomerid_account"
    task = _create(app_api, "tasks", NEW_ROWS["tasks"][0])
    activity = app_api.ok("GET", f"activitypointers({task})")
    assert activity["activitytypecode"] == "task" and activity["subject"] == "Call Ada"


def test_it_answers_every_table_with_seed_data(app_api):
    sizes = {}
    for table in [*WRITABLE, "activitypointers"]:
        sizes[table] = app_api.ok("GET", f"{table}?$count=true&$top=1")["@odata.count"]
    assert 200 <= sizes["accounts"] <= 500
    assert 900 <= sizes["contacts"] <= 1100
    assert all(sizes[t] > 50 for t in WRITABLE)
    assert sizes["activitypointers"] == sizes["tasks"]
    first = app_api.ok("GET", "accounts?$select=name&$filter=accountnumber eq 'ACC-1001'")["value"]
    assert [r["name"] for r in first] == ["Fourth Coffee"]


def test_it_creates_with_return_representation(app_api):
    resp = app_api.post("accounts?$select=name,revenue", {"name": "Shown Co", "revenue": 10},
                        prefer="return=representation")
    assert resp.status_code == 201
    assert resp.headers["Preference-Applied"] == "return=representation"
    body = resp.json()
    assert body["@odata.context"].endswith("$metadata#accounts(name,revenue,accountid)/$entity")
    assert set(body) == {"@odata.context", "@odata.etag", "name", "revenue", "accountid"}


def test_it_selects_filters_orders_and_counts(app_api):
    body = app_api.ok("GET", "accounts?$select=name,revenue&$filter=revenue ge 100000000 and statecode eq 0"
                             "&$orderby=revenue desc,name&$count=true&$top=5")
    revenues = [r["revenue"] for r in body["value"]]
    assert revenues == sorted(revenues, reverse=True) and all(r >= 100_000_000 for r in revenues)
    assert len(revenues) == 5 < body["@odata.count"]
    assert "@odata.nextLink" not in body
    assert body["@odata.context"].endswith("$metadata#accounts(name,revenue,accountid)")
    assert set(body["value"][0]) == {"@odata.etag", "name", "revenue", "accountid"}
    names = app_api.ok("GET", "contacts?$select=fullname&$filter=contains(fullname,'YVONNE') and "
                              "not endswith(emailaddress1,'.com')")["value"]
    assert names and all("yvonne" in r["fullname"].lower() for r in names)
    plain = app_api.get("accounts/$count")
    assert plain.headers["Content-Type"].startswith("text/plain") and int(plain.text) >= 300


def test_it_escapes_quotes_and_compares_columns(app_api):
    _create(app_api, "accounts", {"name": "O'Brian's Bakery"})
    rows = app_api.ok("GET", "accounts?$select=name&$filter=name eq 'o''brian''s bakery'")["value"]
    assert [r["name"] for r in rows] == ["O'Brian's Bakery"]
    same = app_api.ok("GET", "contacts?$select=fullname&$filter=firstname eq lastname")["value"]
    assert all(r["fullname"].split()[0] == r["fullname"].split()[-1] for r in same)


def test_it_pages_with_maxpagesize_and_next_links(app_api):
    filter_ = "$select=fullname&$filter=statecode eq 0"
    pages, url = [], f"contacts?{filter_}"
    while url:
        resp = app_api.get(url, prefer="odata.maxpagesize=300")
        assert resp.status_code == 200, resp.text
        assert resp.headers["Preference-Applied"] == "odata.maxpagesize=300"
        body = resp.json()
        pages.append([r["contactid"] for r in body["value"]])
        url = body.get("@odata.nextLink")
        if url:
            assert "$skiptoken=%3Ccookie%20pagenumber%3D" in url and url.startswith(app_api.base + "contacts?")
    assert len(pages) >= 3 and all(len(p) == 300 for p in pages[:-1])
    seen = [k for page in pages for k in page]
    assert len(seen) == len(set(seen)) == app_api.ok("GET", f"contacts?{filter_}&$count=true")["@odata.count"]


def test_it_pages_in_a_chosen_order(app_api):
    seen, url = [], "accounts?$select=name&$orderby=name desc"
    while url:
        body = app_api.ok("GET", url, prefer="odata.maxpagesize=100")
        seen += [r["name"] for r in body["value"]]
        url = body.get("@odata.nextLink")
    assert len(seen) >= 300
    assert seen == sorted(seen, key=str.lower, reverse=True)


def test_it_formats_values_when_asked(app_api):
    row = app_api.ok("GET", f"accounts({FOURTH_COFFEE})?$select=revenue,statecode,createdon,_ownerid_value",
                     prefer='odata.include-annotations="OData.Community.Display.V1.FormattedValue"')
    assert row["revenue@OData.Community.Display.V1.FormattedValue"] == "$1,500,000.00"
    assert row["statecode@OData.Community.Display.V1.FormattedValue"] == "Active"
    assert row["_ownerid_value@OData.Community.Display.V1.FormattedValue"] == "Adele Vance"
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2} [AP]M",
                        row["createdon@OData.Community.Display.V1.FormattedValue"])
    assert "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname" not in row
    plain = app_api.ok("GET", f"accounts({FOURTH_COFFEE})?$select=revenue")
    assert set(plain) == {"@odata.context", "@odata.etag", "revenue", "accountid"}


def test_it_refuses_a_stale_etag(app_api):
    row = app_api.ok("GET", f"accounts({FOURTH_COFFEE})?$select=name")
    etag = row["@odata.etag"]
    assert app_api.patch(f"accounts({FOURTH_COFFEE})", {"telephone1": "1"}, headers={"If-Match": etag}).status_code \
        == 204
    stale = app_api.patch(f"accounts({FOURTH_COFFEE})", {"telephone1": "2"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"] == {"code": "0x80060882", "message": "The version of the existing record doesn't "
                                                                      "match the RowVersion property provided."}
    assert app_api.delete(f"accounts({FOURTH_COFFEE})", headers={"If-Match": etag}).status_code == 412
    assert app_api.ok("GET", f"accounts({FOURTH_COFFEE})?$select=telephone1")["telephone1"] == "1"


def test_it_answers_304_for_an_unchanged_row(app_api):
    etag = app_api.ok("GET", f"accounts({FOURTH_COFFEE})?$select=name")["@odata.etag"]
    assert app_api.get(f"accounts({FOURTH_COFFEE})?$select=name", headers={"If-None-Match": etag}).status_code == 304
    app_api.patch(f"accounts({FOURTH_COFFEE})", {"name": "Fourth Coffee Roasters"})
    again = app_api.get(f"accounts({FOURTH_COFFEE})?$select=name", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.json()["name"] == "Fourth Coffee Roasters"


def test_it_upserts_with_patch(app_api):
    key = str(uuid.uuid4())
    assert app_api.patch(f"accounts({key})", {"name": "Upserted"}, headers={"If-Match": "*"}).status_code == 404
    created = app_api.patch(f"accounts({key})", {"name": "Upserted"}, headers={"If-None-Match": "*"},
                            prefer="return=representation")
    assert created.status_code == 201 and created.json()["accountid"] == key
    again = app_api.patch(f"accounts({key})", {"name": "Again"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    assert again.json()["error"]["message"] == "A record with matching key values already exists."
    assert app_api.patch(f"accounts({key})", {"name": "Updated"}, headers={"If-Match": "*"}).status_code == 204
    other = str(uuid.uuid4())
    assert app_api.patch(f"accounts({other})", {"name": "Plain upsert"}).status_code == 204
    assert app_api.ok("GET", f"accounts({other})?$select=name")["name"] == "Plain upsert"


@pytest.mark.parametrize(("path", "code", "words"), [
    ("accounts?$select=name,nosuchcolumn", "0x80060888", "Could not find a property named 'nosuchcolumn'"),
    ("accounts?$filter=name eq", "0x80060888", "Syntax error at position 7"),
    ("accounts?$filter=name eq 'open", "0x80060888", "unterminated literal"),
    ("accounts?$filter=revenue eq 'lots'", "0x80060888", "incompatible types"),
    ("accounts?$orderby=nosuch desc", "0x80060888", "Could not find a property named 'nosuch'"),
    ("accounts?$expand=primarycontactid", "0x80060888", "$expand is not supported"),
    ("accounts?$skip=10", "0x80060888", "$skip is not supported"),
    ("accounts?$top=0", "0x80060888", "$top"),
    ("accounts?$top=1&$top=2", "0x80060888", "more than once"),
    ("accounts?$skiptoken=nonsense", "0x80060888", "paging cookie"),
    ("accounts(not-a-guid)", "0x80060888", "not a valid key"),
])
def test_it_refuses_bad_queries_with_400(app_api, path, code, words):
    resp = app_api.get(path)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == code
    assert words in resp.json()["error"]["message"]


@pytest.mark.parametrize(("body", "words"), [
    ({"nosuch": 1}, "The property 'nosuch' does not exist on type 'Microsoft.Dynamics.CRM.account'"),
    ({"name": "x" * 161}, "exceeded the maximum allowed length of '160'"),
    ({"revenue": "a lot"}, "Cannot convert the literal 'a lot' to the expected type 'Edm.Decimal'"),
    ({"industrycode": 424242}, "is not a valid value for industrycode"),
    ({"_primarycontactid_value": FOURTH_COFFEE}, "primarycontactid@odata.bind"),
    ({"createdon": "2020-01-01T00:00:00Z"}, "read-only"),
    ({"primarycontactid@odata.bind": "/accounts(1)"}, "must refer to /contacts(<guid>)"),
    ({"statecode": 1, "statuscode": 1}, "is not a valid status code"),
])
def test_it_refuses_bad_rows_with_400(app_api, body, words):
    resp = app_api.post("accounts", body)
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["error"]["message"]


def test_it_answers_404_for_unknown_rows_and_tables(app_api):
    missing = str(uuid.uuid4())
    for method in ("GET", "DELETE"):
        resp = app_api.request(method, f"contacts({missing})")
        assert resp.status_code == 404
        assert resp.json()["error"] == {"code": "0x80040217", "message": f"contact With Id = {missing} Does Not Exist"}
    bind = app_api.post("contacts", {"lastname": "X", "parentcustomerid_account@odata.bind": f"/accounts({missing})"})
    assert bind.status_code == 404
    assert app_api.get("widgets").status_code == 404


def test_activities_are_read_only(app_api):
    key = app_api.ok("GET", "activitypointers?$top=1")["value"][0]["activityid"]
    assert app_api.post("activitypointers", {"subject": "x"}).status_code == 405
    assert app_api.patch(f"activitypointers({key})", {"subject": "x"}).status_code == 405
    assert app_api.delete(f"activitypointers({key})").status_code == 405
    assert app_api.ok("GET", f"tasks({key})?$select=subject")["subject"]


def test_it_survives_odd_bodies(app_api):
    assert app_api.request("POST", "accounts", data=b"{not json").status_code == 400
    assert app_api.request("POST", "accounts", json=[1, 2]).status_code == 400
    resp = app_api.post("accounts", {"name": "nul\x00byte", "description": "\u2603" * 10})
    assert resp.status_code == 204


def _create(api, table: str, body: dict) -> str:
    resp = api.post(table, body)
    assert resp.status_code == 204, resp.text
    return resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
