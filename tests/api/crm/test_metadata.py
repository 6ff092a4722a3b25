"""The per-instance metadata cache, read from the sandbox's EntityDefinitions and $metadata."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.test import RequestFactory

from setup_portal.api.crm import metadata
from setup_portal.dataverse.models import EnvironmentMetadata


def _request():
    return RequestFactory().get("/api/v1/crm/objects")


def test_it_reads_tables_and_columns_with_their_types(crm_instance, db):
    catalogue = metadata.catalogue(_request(), crm_instance)
    project = catalogue.table("cr8a2_projects")
    assert project is catalogue.table("cr8a2_project")
    assert project.summary() == {
        "name": "cr8a2_project", "entitySet": "cr8a2_projects", "displayName": project.display_name,
        "custom": True, "primaryIdField": "cr8a2_projectid", "primaryNameField": "cr8a2_name",
        "changeTracking": True, "writable": True}
    assert catalogue.table("cr8a2_milestone").change_tracking is False
    fields = {f.name: f for f in project.resource.fields}
    assert fields["cr8a2_name"].required != "None" and fields["cr8a2_name"].max_length > 0
    assert fields["cr8a2_startdate"].type == "date"
    assert fields["cr8a2_budget"].type == "decimal" and fields["cr8a2_budget"].precision is not None
    assert fields["cr8a2_phase"].choices and all(label for _, label in fields["cr8a2_phase"].choices)
    lookup = fields["cr8a2_accountid"]
    assert lookup.column == "_cr8a2_accountid_value" and lookup.navigation == {"cr8a2_AccountId": "accounts"}

    account = catalogue.resource("accounts")
    assert account.field("phone").column == "telephone1" and account.field("telephone1") is account.field("phone")
    assert account.field("cr8a2_tier").choices
    assert account.field("cr8a2_projectid").navigation == {"cr8a2_ProjectId": "cr8a2_projects"}
    assert catalogue.closest("acount")[:1] == ["account"]


def test_it_stores_the_metadata_and_reads_it_once(crm_instance, db, django_assert_num_queries):
    first = metadata.catalogue(_request(), crm_instance)
    row = EnvironmentMetadata.objects.get(instance=crm_instance)
    assert row.definitions["tables"]
    with django_assert_num_queries(1):
        assert metadata.catalogue(_request(), crm_instance) is first
    # At most once a minute, counting the first read.
    assert metadata.refresh_for_unknown(_request(), crm_instance) is None
    EnvironmentMetadata.objects.filter(instance=crm_instance).update(checked_at=row.fetched_at - timedelta(minutes=2))
    started = time.perf_counter()
    assert metadata.refresh_for_unknown(_request(), crm_instance) is not None
    print(f"metadata read in {time.perf_counter() - started:.2f} s")
    assert metadata.refresh_for_unknown(_request(), crm_instance) is None


def test_it_reads_the_metadata_again_when_the_environment_gains_a_column(app, sandbox, clean_sandbox):
    assert app.post("/api/v1/crm/objects/refresh").status_code == 200  # the metadata, read and stored
    before = EnvironmentMetadata.objects.get(instance=app.instance).fetched_at
    rating, size = f"cr8a2_rating{uuid.uuid4().hex[:8]}", f"cr8a2_size{uuid.uuid4().hex[:8]}"
    sandbox.admin("POST", "dataverse/columns", {"table": "cr8a2_projects", "name": rating, "kind": "choice",
                                                "label": "Rating", "choices": ["Low", "High"]})

    created = app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_name": "Rated", rating: "high"})
    assert created.status_code == 201, created.content  # an unknown field: the metadata was read again
    assert created.json()[rating] == 100000001
    assert EnvironmentMetadata.objects.get(instance=app.instance).fetched_at > before

    sandbox.admin("POST", "dataverse/columns", {"table": "cr8a2_projects", "name": size, "kind": "int"})
    refused = app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_name": "Sized", size: 3})
    assert refused.status_code == 400 and refused.json()["errors"] == {size: [refused.json()["detail"]]}
    # At most one refresh a minute for unknown names; POST objects/refresh reads it at once.
    assert app.post("/api/v1/crm/objects/refresh").status_code == 200
    fields = {f["name"] for f in app.get("/api/v1/crm/objects/cr8a2_project/metadata").json()["fields"]}
    assert {rating, size} <= fields
    assert app.post("/api/v1/crm/cr8a2_projects", {"cr8a2_name": "Sized", size: 3}).status_code == 201
