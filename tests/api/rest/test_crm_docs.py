"""The instance's CRM API in the portal's Swagger UI: its document for people who may see the instance, and the page."""

from __future__ import annotations

from django.test import Client
from django.utils.html import escapejs
from openapi_spec_validator import validate


def test_it_serves_the_instance_document_and_its_swagger_page(app, crm_instance, alice, clean_sandbox):
    client = Client()
    client.force_login(alice)
    base = f"/api/v1/instances/{crm_instance.pk}"
    spec = client.get(f"{base}/crm-openapi.json")
    assert spec.status_code == 200, spec.content
    validate(spec.json())
    assert "/cr8a2_projects/bulk" in spec.json()["paths"]
    page = client.get(f"{base}/crm-docs/")
    assert page.status_code == 200 and f"{crm_instance.name}: CRM API" in page.content.decode()
    script = client.get(f"{base}/crm-docs/?script=")
    assert escapejs(f"{base}/crm-openapi.json") in script.content.decode()
    assert app.token[:12] not in script.content.decode() + page.content.decode()


def test_it_refuses_people_without_a_role(crm_instance, charlie_client, clean_sandbox):
    assert charlie_client.get(f"/api/v1/instances/{crm_instance.pk}/crm-openapi.json").status_code == 403
    assert charlie_client.get(f"/api/v1/instances/{crm_instance.pk}/crm-docs/").status_code == 403
