"""`GET openapi.json`: the instance's own OpenAPI document, valid OpenAPI 3.1, with every table and field."""

from __future__ import annotations

from openapi_spec_validator import validate


def test_it_describes_every_table_and_field_in_valid_openapi(app, clean_sandbox):
    answer = app.get("/api/v1/crm/openapi.json")
    assert answer.status_code == 200, answer.content
    spec = answer.json()
    validate(spec)
    assert spec["openapi"] == "3.1.0" and spec["servers"][0]["url"].endswith("/api/v1/crm")
    assert {"/accounts", "/accounts/{id}", "/accounts/bulk", "/notes", "/cr8a2_projects", "/cr8a2_projects/{id}",
            "/cr8a2_projects/bulk", "/activities"} <= set(spec["paths"])
    assert "post" not in spec["paths"]["/activities"]
    schemas = spec["components"]["schemas"]
    project = schemas["cr8a2_projectsCreate"]
    assert project["required"] == ["cr8a2_name"] and project["additionalProperties"] is False
    assert project["properties"]["cr8a2_name"]["type"] == ["string", "null"]
    assert project["properties"]["cr8a2_name"]["maxLength"] == 100
    phase = schemas["cr8a2_projects"]["properties"]["cr8a2_phase"]["anyOf"][0]
    assert phase["enum"] == [100000000, 100000001, 100000002, 100000003]
    account = schemas["accounts"]["properties"]
    assert {"phone", "cr8a2_annualbudget", "cr8a2_tier", "_etag"} <= set(account)
    parameters = spec["paths"]["/accounts"]["get"]["parameters"]
    assert [p["$ref"].rsplit("/", 1)[1] for p in parameters] == ["where", "fields", "orderBy", "pageSize", "nextPage"]
    assert spec["components"]["securitySchemes"]["instanceToken"]["scheme"] == "bearer"
    assert spec["paths"]["/accounts"]["get"]["responses"]["400"]["$ref"] == "#/components/responses/Problem"


def test_it_needs_the_instance_token(app, clean_sandbox):
    assert app.client.get("/api/v1/crm/openapi.json").status_code == 401
