"""The OpenAPI schema validates, documents every operation, and its docs are served locally under the CSP."""

from __future__ import annotations

from openapi_spec_validator import validate

from setup_portal.api.problems import PROBLEM_CONTENT_TYPE


def test_the_schema_is_valid_openapi_and_documents_every_operation(alice_api):
    response = alice_api.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) >= 20
    for path, method, op in operations:
        assert op.get("summary") and op.get("description"), (path, method)
        for status in ("401", "403", "429"):
            assert PROBLEM_CONTENT_TYPE in op["responses"][status]["content"], (path, method, status)
        for status, response in op["responses"].items():
            for content in response.get("content", {}).values():
                assert content.get("examples"), (path, method, status)
    links = schema["paths"]["/api/v1/instances"]["post"]["responses"]["202"]["links"]
    assert links["GetJob"]["operationId"] == "getJob"
    links = schema["paths"]["/api/v1/teams/{team_id}/members"]["post"]["responses"]["201"]["links"]
    assert links["Remove"]["operationId"] == "removeMembership"
    assert "password" in schema["components"]["schemas"]["NewUserOut"]["properties"]
    assert schema["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MeOut"}


def test_the_schema_needs_a_credential(db, client):
    assert client.get("/api/v1/schema/").status_code == 401


def test_swagger_ui_is_served_from_the_portal_under_its_csp(alice_client):
    response = alice_client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "https://" not in html and "<script>" not in html
    csp = response["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"] and "unsafe-inline" not in csp
    script = alice_client.get("/api/v1/docs/", {"script": ""})
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_redoc_is_served_from_the_portal(alice_client):
    response = alice_client.get("/api/v1/redoc/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in html and "https://" not in html
    csp = response["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "worker-src 'self' blob:" in csp
