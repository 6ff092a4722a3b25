"""`POST batch` through HTTP against the sandbox's Dataverse."""

from __future__ import annotations

import uuid

import pytest

PROBLEM = "application/problem+json"


def _batch(app, operations: list, **extra):
    return app.post("/api/v1/crm/batch", {"operations": operations, **extra})


def test_it_runs_each_operation_and_answers_each(app, clean_sandbox):
    account = app.post("/api/v1/crm/accounts", {"name": "Batch base"}).json()
    missing = str(uuid.uuid4())
    answer = _batch(app, [
        {"method": "POST", "path": "accounts", "body": {"name": "Batch new", "telephone1": "+1 555"}},
        {"method": "PATCH", "path": f"accounts/{account['id']}", "body": {"city": "Lille"}},
        {"method": "GET", "path": f"accounts/{account['id']}"},
        {"method": "PATCH", "path": f"accounts/{missing}", "body": {"city": "Nowhere"}},
        {"method": "POST", "path": "cr8a2_projects", "body": {"cr8a2_name": "Batch project"}},
    ])
    assert answer.status_code == 200, answer.content
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [201, 200, 200, 404, 201]
    assert results[0]["record"]["phone"] == "+1 555" and results[0]["id"] == results[0]["record"]["id"]
    assert results[1]["record"]["city"] == "Lille" and results[2]["record"]["city"] == "Lille"
    assert results[3]["problem"]["code"]
    assert results[4]["record"]["cr8a2_name"] == "Batch project"
    assert app.get(f"/api/v1/crm/accounts/{results[0]['id']}").status_code == 200


def test_it_rolls_an_atomic_batch_back_when_one_operation_fails(app, clean_sandbox):
    tag = uuid.uuid4().hex[:8]
    answer = _batch(app, [
        {"method": "POST", "path": "accounts", "body": {"name": f"Atomic {tag}"}},
        {"method": "DELETE", "path": f"accounts/{uuid.uuid4()}"},
    ], atomic=True)
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [424, 404]
    assert "operation 1 failed" in results[0]["problem"]["detail"]
    assert app.get("/api/v1/crm/accounts", {"where": f"name = 'Atomic {tag}'"}).json()["records"] == []

    done = _batch(app, [{"method": "POST", "path": "accounts", "body": {"name": f"Atomic {tag}"}}], atomic=True)
    assert [r["status"] for r in done.json()["results"]] == [201]


@pytest.mark.parametrize("operations, where", [
    ([{"method": "PUT", "path": "accounts"}], "operations[0].method"),
    ([{"method": "POST", "path": "accounts/../contacts"}], "operations[0].path"),
    ([{"method": "POST", "path": "accounts?$filter=x"}], "operations[0].path"),
    ([{"method": "GET", "path": "accounts/not-a-guid"}], "operations[0].path"),
    ([{"method": "PATCH", "path": "accounts"}], "operations[0].path"),
    ([{"method": "POST", "path": "accounts", "body": {"revenue": "lots"}}], "operations[0].body.revenue"),
    ([{"method": "DELETE", "path": f"accounts/{uuid.uuid4()}", "body": {}}], "operations[0].body"),
    ([{"method": "GET", "path": "accounts", "extra": 1}], "operations[0]"),
    ([], "operations"),
    ([{"method": "GET", "path": f"accounts/{uuid.uuid4()}"}] * 101, "operations"),
])
def test_it_refuses_a_batch_it_cannot_parse(app, clean_sandbox, operations, where):
    answer = _batch(app, operations)
    assert answer.status_code == 400 and answer["Content-Type"] == PROBLEM
    assert where in answer.json()["errors"], answer.json()


def test_it_refuses_reads_in_an_atomic_batch_and_unknown_tables(app, clean_sandbox):
    read = _batch(app, [{"method": "GET", "path": f"accounts/{uuid.uuid4()}"}], atomic=True)
    assert read.status_code == 400 and "atomic" in read.json()["errors"]
    assert _batch(app, [{"method": "POST", "path": "nosuchtable", "body": {}}]).status_code == 404
    assert app.client.post("/api/v1/crm/batch", {}, content_type="application/json").status_code == 401
