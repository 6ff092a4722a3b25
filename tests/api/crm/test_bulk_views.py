"""`POST <table>/bulk` through HTTP against the sandbox's Dataverse."""

from __future__ import annotations

import uuid

from setup_portal.api.models import ApiCall

PROBLEM = "application/problem+json"


def _bulk(app, table: str, body: dict, **headers):
    return app.post(f"/api/v1/crm/{table}/bulk", body, **headers)


def test_it_creates_a_thousand_records_and_reports_the_bad_one(app, clean_sandbox):
    tag = uuid.uuid4().hex[:8]
    records = [{"name": f"Bulk {tag} {i}", "telephone1": f"+33 1 {i:04d}"} for i in range(1000)]
    records[500]["revenue"] = "lots"
    answer = _bulk(app, "accounts", {"records": records})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert (data["total"], data["succeeded"], data["failed"]) == (1000, 999, 1)
    assert data["sentAs"] == ["CreateMultiple"]
    bad = data["results"][500]
    assert bad["status"] == 400 and bad["id"] is None
    assert bad["problem"]["field"] == "revenue" and "number" in bad["problem"]["detail"]
    assert [r["index"] for r in data["results"]] == list(range(1000))
    good = data["results"][999]
    assert good["status"] == 201
    fetched = app.get(f"/api/v1/crm/accounts/{good['id']}", {"fields": "name,telephone1"})
    assert fetched.json()["name"] == f"Bulk {tag} 999" and fetched.json()["phone"] == "+33 1 0999"
    listed = app.get("/api/v1/crm/accounts", {"where": f"name like 'Bulk {tag} %'", "pageSize": "200"})
    assert len(listed.json()["records"]) == 200 and listed.json()["nextPage"]


def test_it_reports_per_record_what_dataverse_refuses(app, clean_sandbox):
    # 'name' is required on accounts: Dataverse refuses the CreateMultiple as a whole, then the batch tells which.
    records = [{"name": "Good one"}, {"city": "Nameless"}, {"name": "Good two"}]
    data = _bulk(app, "accounts", {"records": records}).json()
    assert [r["status"] for r in data["results"]] == [201, 400, 201]
    assert data["results"][1]["problem"]["field"] == "name" and data["results"][1]["problem"]["code"]
    assert "$batch" in data["sentAs"] and data["succeeded"] == 2
    assert app.get(f"/api/v1/crm/accounts/{data['results'][2]['id']}").json()["name"] == "Good two"


def test_it_upserts_by_an_alternate_key_and_by_id(app, clean_sandbox):
    number = f"K-{uuid.uuid4().hex[:6]}"
    existing = app.post("/api/v1/crm/accounts", {"name": "Keyed", "accountNumber": number}).json()
    by_key = _bulk(app, "accounts", {"mode": "upsert", "key": "accountNumber", "records": [
        {"accountNumber": number.lower(), "city": "Nantes"},
        {"accountNumber": number + "-new", "name": "Fresh"},
    ]}).json()
    assert [(r["status"], r["id"]) for r in by_key["results"]][0] == (200, existing["id"])
    assert by_key["results"][1]["status"] == 201 and by_key["sentAs"] == ["UpsertMultiple"]
    assert app.get(f"/api/v1/crm/accounts/{existing['id']}").json()["city"] == "Nantes"
    created = app.get(f"/api/v1/crm/accounts/{by_key['results'][1]['id']}").json()
    assert created["name"] == "Fresh"

    chosen = str(uuid.uuid4())
    by_id = _bulk(app, "accounts", {"mode": "upsert", "records": [
        {"id": existing["id"], "city": "Rennes"}, {"id": chosen, "name": "Chosen id"}]}).json()
    assert [(r["status"], r["id"]) for r in by_id["results"]] == [(200, existing["id"]), (201, chosen)]
    assert app.get(f"/api/v1/crm/accounts/{chosen}").json()["name"] == "Chosen id"


def test_it_refuses_records_an_upsert_cannot_match(app, clean_sandbox):
    data = _bulk(app, "accounts", {"mode": "upsert", "key": "accountNumber", "records": [
        {"name": "No key"}, {"accountNumber": "DUP-1", "name": "a"}, {"accountNumber": "dup-1", "name": "b"}]}).json()
    assert [r["status"] for r in data["results"]] == [400, 201, 400]
    assert data["results"][0]["problem"]["field"] == "accountNumber"
    assert "Record 1" in data["results"][2]["problem"]["detail"]


def test_it_writes_a_custom_table_with_a_choice_by_label(app, clean_sandbox):
    data = _bulk(app, "cr8a2_projects", {"records": [
        {"cr8a2_name": "Apollo", "cr8a2_phase": "planned"}, {"cr8a2_name": "Gemini", "cr8a2_phase": "Nope"}]}).json()
    assert [r["status"] for r in data["results"]] == [201, 400]
    assert data["results"][1]["problem"]["field"] == "cr8a2_phase"
    assert data["table"] == "cr8a2_project"
    record = app.get(f"/api/v1/crm/cr8a2_project/{data['results'][0]['id']}").json()
    assert record["cr8a2_name"] == "Apollo"


def test_it_replays_the_whole_call_for_an_idempotency_key(app, clean_sandbox):
    body = {"records": [{"name": "Once"}, {"name": "Twice?"}]}
    first = _bulk(app, "accounts", body, **{"Idempotency-Key": "bulk-1"})
    again = _bulk(app, "accounts", body, **{"Idempotency-Key": "bulk-1"})
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    other = _bulk(app, "accounts", {"records": [{"name": "Other"}]}, **{"Idempotency-Key": "bulk-1"})
    assert other.status_code == 422


def test_it_refuses_a_call_it_cannot_run(app, clean_sandbox):
    for body, field in (({"records": []}, "records"), ({"records": [{}] * 1001}, "records"),
                        ({"rows": []}, "records"), ({"records": [{}, "x"]}, "records"),
                        ({"records": [{}], "mode": "merge"}, "mode"),
                        ({"records": [{}], "mode": "upsert", "key": "createdOn"}, "key"),
                        ({"records": [{}], "key": "id"}, "key")):
        answer = _bulk(app, "accounts", body)
        assert answer.status_code == 400 and answer["Content-Type"] == PROBLEM, body
        assert field in answer.json()["errors"], answer.json()
    assert _bulk(app, "nosuchtable", {"records": [{}]}).status_code == 404
    assert _bulk(app, "activities", {"records": [{"subject": "x"}]}).status_code == 405
    assert app.client.post("/api/v1/crm/accounts/bulk", {}, content_type="application/json").status_code == 401


def test_it_records_the_call_once(app, clean_sandbox):
    _bulk(app, "accounts", {"records": [{"name": "Logged"}]})
    call = ApiCall.objects.filter(instance=app.instance).latest("id")
    assert (call.method, call.resource, call.status) == ("POST", "accounts/bulk", 200)


def test_a_call_whose_every_record_is_refused_is_a_400_with_each_records_problem(app, clean_sandbox):
    answer = app.post("/api/v1/crm/accounts/bulk", {"records": [{"name": "x", "revenue": "lots"},
                                                                {"nosuchfield": 1}]})
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["status"] == 400 and "None of the 2 records" in problem["detail"]
    assert [r["index"] for r in problem["results"]] == [0, 1]
    assert problem["results"][0]["problem"]["field"] == "revenue"


def test_a_table_without_createmultiple_is_written_through_a_batch(app, clean_sandbox):
    """Dataverse enables the bulk messages table by table (the plug-in registration tables have none):
    refused with 0x8004800d, the same records go as a $batch, each with its own outcome."""
    good = {"name": f"Bulk hook {uuid.uuid4().hex[:8]}", "contract": "Webhook", "url": "https://hooks.example/in",
            "authtype": 4, "authvalue": "a-key"}
    answer = _bulk(app, "serviceendpoints", {"records": [good, {"description": "no name, no contract"}]})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["sentAs"] == ["$batch"] and (data["succeeded"], data["failed"]) == (1, 1), data
    created, refused = data["results"]
    assert created["status"] == 201 and created["id"]
    assert refused["status"] == 400 and refused["problem"]["field"] == "name", refused
    assert app.get(f"/api/v1/crm/serviceendpoints/{created['id']}").json()["name"] == good["name"]
    assert app.delete(f"/api/v1/crm/serviceendpoints/{created['id']}").status_code == 204
