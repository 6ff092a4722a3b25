"""Any table and column through the instance API: objects, their metadata, and custom tables and columns
round-tripped against the sandbox's Dataverse."""

from __future__ import annotations

from setup_portal.api.models import ApiCall

PROBLEM = "application/problem+json"
FOURTH_COFFEE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def test_it_lists_the_environments_tables(app, clean_sandbox):
    answer = app.get("/api/v1/crm/objects")
    assert answer.status_code == 200, answer.content
    objects = {o["name"]: o for o in answer.json()["objects"]}
    assert objects["cr8a2_project"] == {
        "name": "cr8a2_project", "entitySet": "cr8a2_projects", "displayName": "Project", "custom": True,
        "primaryIdField": "cr8a2_projectid", "primaryNameField": "cr8a2_name", "changeTracking": True,
        "writable": True, "alias": None}
    assert objects["cr8a2_milestone"]["changeTracking"] is False
    assert objects["account"]["alias"] == "accounts" and objects["account"]["custom"] is False
    assert objects["activitypointer"]["writable"] is False
    assert answer.json()["fetchedAt"]


def test_it_describes_every_field_of_a_table(app, clean_sandbox):
    answer = app.get("/api/v1/crm/objects/cr8a2_projects/metadata")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["name"] == "cr8a2_project" and body["alias"] is None
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["cr8a2_name"]["maxLength"] == 100 and fields["cr8a2_name"]["requiredLevel"] == "ApplicationRequired"
    assert fields["cr8a2_phase"]["choices"][0] == {"value": 100000000, "label": "Planned"}
    assert fields["cr8a2_budget"]["type"] == "decimal" and fields["cr8a2_budget"]["precision"] == 2
    assert fields["cr8a2_startdate"]["type"] == "date"
    assert fields["cr8a2_accountid"]["targets"] == ["account"] and fields["cr8a2_accountid"]["sortable"] is False
    assert fields["createdon"]["readOnly"] is True

    accounts = {f["name"]: f for f in app.get("/api/v1/crm/objects/accounts/metadata").json()["fields"]}
    assert accounts["phone"]["column"] == "telephone1" and accounts["phone"]["maxLength"]
    assert accounts["cr8a2_tier"]["choices"] and accounts["industry"]["choices"]
    assert "telephone1" not in accounts  # aliased as phone

    unknown = app.get("/api/v1/crm/objects/cr8a2_projets/metadata")
    assert unknown.status_code == 404 and unknown["Content-Type"] == PROBLEM
    assert "cr8a2_projects" in unknown.json()["detail"]


def test_it_round_trips_a_custom_table(app, clean_sandbox):
    created = app.post("/api/v1/crm/cr8a2_projects", {
        "cr8a2_name": "Harbour Rollout", "cr8a2_code": "HR-1", "cr8a2_phase": "In progress",
        "cr8a2_budget": 125000.5, "cr8a2_startdate": "2025-04-01",
        "cr8a2_accountid": {"table": "account", "id": FOURTH_COFFEE}})
    assert created.status_code == 201, created.content
    record = created.json()
    assert record["cr8a2_phase"] == 100000001 and record["cr8a2_budget"] == 125000.5
    assert record["cr8a2_startdate"] == "2025-04-01" and record["cr8a2_accountid"] == FOURTH_COFFEE
    url = f"/api/v1/crm/cr8a2_project/{record['id']}"
    assert created["Location"].endswith(f"/api/v1/crm/cr8a2_projects/{record['id']}")

    found = app.get("/api/v1/crm/cr8a2_projects", {"where": "cr8a2_code = 'HR-1' and cr8a2_phase = 'In progress'",
                                                   "fields": "cr8a2_name,cr8a2_budget", "orderBy": "cr8a2_name"})
    assert found.status_code == 200, found.content
    assert found.json()["records"] == [{"id": record["id"], "cr8a2_name": "Harbour Rollout",
                                        "cr8a2_budget": 125000.5, "_etag": record["_etag"]}]

    changed = app.patch(url, {"cr8a2_phase": 100000003, "cr8a2_accountid": None})
    assert changed.status_code == 200, changed.content
    assert changed.json()["cr8a2_phase"] == 100000003 and changed.json()["cr8a2_accountid"] is None
    assert app.delete(url).status_code == 204
    assert app.get(url).status_code == 404
    assert {"cr8a2_project", "cr8a2_project/{id}"} <= set(ApiCall.objects.values_list("resource", flat=True))


def test_it_writes_and_reads_custom_columns_of_account(app, clean_sandbox):
    project = app.get("/api/v1/crm/cr8a2_projects", {"pageSize": 1}).json()["records"][0]["id"]
    created = app.post("/api/v1/crm/accounts", {
        "name": "Column Works", "telephone1": "+44 20 7946 0000",
        "cr8a2_tier": "gold", "cr8a2_annualbudget": 9999.99, "cr8a2_renewaldate": "2026-01-31",
        "cr8a2_projectid": project})
    assert created.status_code == 201, created.content
    record = created.json()
    assert record["phone"] == "+44 20 7946 0000"  # telephone1 is the friendly resource's phone
    url = f"/api/v1/crm/accounts/{record['id']}"
    got = app.get(url, {"fields": "telephone1,cr8a2_tier,cr8a2_annualbudget,cr8a2_renewaldate,cr8a2_projectid"})
    assert got.status_code == 200, got.content
    assert {k: v for k, v in got.json().items() if k not in {"id", "_etag"}} == {
        "phone": "+44 20 7946 0000", "cr8a2_tier": 100000002,
        "cr8a2_annualbudget": 9999.99, "cr8a2_renewaldate": "2026-01-31", "cr8a2_projectid": project}
    listed = app.get("/api/v1/crm/accounts", {"where": "cr8a2_tier = 'Gold' and cr8a2_annualbudget = 9999.99"})
    assert [r["id"] for r in listed.json()["records"]] == [record["id"]]
    assert "cr8a2_tier" not in listed.json()["records"][0]  # the friendly fields unless asked for
    by_logical = app.get(f"/api/v1/crm/account/{record['id']}").json()
    assert by_logical["telephone1"] == "+44 20 7946 0000" and by_logical["cr8a2_tier"] == 100000002
    app.delete(url)


def test_it_names_the_field_and_the_closest_names(app, clean_sandbox):
    typo = app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_nmae": "x"})
    assert typo.status_code == 400 and "Did you mean 'cr8a2_name'" in typo.json()["detail"]
    assert typo.json()["errors"] == {"cr8a2_nmae": [typo.json()["detail"]]}
    choice = app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_name": "x", "cr8a2_phase": "Finished"})
    assert choice.status_code == 400 and "100000000 (Planned)" in choice.json()["detail"]
    too_long = app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_name": "x", "cr8a2_code": "C" * 21})
    assert too_long.status_code == 400 and "at most 20 characters" in too_long.json()["detail"]
    cents = app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_name": "x", "cr8a2_budget": 1.005})
    assert cents.status_code == 400 and "at most 2 decimal places" in cents.json()["detail"]
    date_only = app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_name": "x", "cr8a2_startdate": "2025-04-01T10:00Z"})
    assert date_only.status_code == 400 and "cr8a2_startdate" in date_only.json()["errors"]
    where = app.get("/api/v1/crm/cr8a2_projects", {"where": "cr8a2_phse = 1"})
    assert where.status_code == 400 and "cr8a2_phase" in where.json()["detail"]
    table = app.get("/api/v1/crm/cr8a2_projet")
    assert table.status_code == 404 and "cr8a2_project" in table.json()["detail"]
    read_only = app.post("/api/v1/crm/activitypointers", {"subject": "x"})
    assert read_only.status_code == 405
