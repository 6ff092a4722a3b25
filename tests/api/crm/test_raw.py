"""/api/v1/crm/raw/<path>: the Dataverse Web API itself, only below the instance's own Web API."""

from __future__ import annotations

import pytest

from setup_portal.api.crm.rawpath import RawPathError, raw_target
from setup_portal.api.models import ApiCall
from setup_portal.instances.models import Instance

BASE = "https://127.0.0.1:8443/dataverse/contoso/api/data/v9.2/"


def test_it_passes_a_web_api_call_through(app, clean_sandbox):
    answer = app.get("/api/v1/crm/raw/WhoAmI")
    assert answer.status_code == 200 and answer.json()["UserId"]
    listed = app.get("/api/v1/crm/raw/accounts", {"$select": "name,description", "$top": "2",
                                                  "$filter": "name eq 'Fourth Coffee'"})
    assert listed.status_code == 200, listed.content
    assert [r["name"] for r in listed.json()["value"]] == ["Fourth Coffee"]
    assert ApiCall.objects.filter(instance=app.instance, resource="raw").count() == 2


def test_it_points_next_links_at_the_portal(app, clean_sandbox):
    answer = app.get("/api/v1/crm/raw/contacts", {"$select": "fullname"}, Prefer="odata.maxpagesize=5")
    link = answer.json()["@odata.nextLink"]
    assert link.startswith("http://testserver/api/v1/crm/raw/contacts?")
    second = app.get(link.removeprefix("http://testserver"), Prefer="odata.maxpagesize=5")
    assert second.status_code == 200 and len(second.json()["value"]) == 5


def test_it_writes_and_drops_nulls_for_instances_that_filter_them(app, clean_sandbox):
    created = app.post("/api/v1/crm/raw/accounts", {"name": "Raw Co"}, Prefer="return=representation")
    assert created.status_code == 201, created.content
    row = created.json()
    assert row["description"] is None
    Instance.objects.filter(pk=app.instance.pk).update(filter_nulls=True)
    url = f"/api/v1/crm/raw/accounts({row['accountid']})"
    assert "description" not in app.get(url).json()
    assert app.patch(url, {"city": "x"}).status_code == 400  # Dataverse's own column names only
    assert app.patch(url, {"address1_city": "Nice"}).status_code == 204
    assert app.delete(url).status_code == 204
    assert app.get(url).status_code == 404


@pytest.mark.parametrize("path", [
    "../accounts", "%2e%2e/accounts", "accounts/..", "accounts/%2E%2E/%2E%2E/WhoAmI", "./WhoAmI",
    "https://evil.example/api", "//evil.example/api", "accounts//x", "..%2faccounts", "%252e%252e/x",
    "accounts%5c..%5cx", "@evil.example/x", "", "accounts%00",
])
def test_it_refuses_paths_that_leave_the_web_api(app, path):
    answer = app.get(f"/api/v1/crm/raw/{path}")
    assert answer.status_code in (400, 404), (path, answer.status_code)
    assert answer["Content-Type"] == "application/problem+json"


def test_it_refuses_methods_the_web_api_does_not_get(app):
    answer = app.client.put("/api/v1/crm/raw/accounts", {}, content_type="application/json",
                            headers={"Authorization": f"Bearer {app.token}"})
    assert answer.status_code == 405


@pytest.mark.parametrize("path", ["accounts(00000000-0000-0000-0000-000000000001)", "accounts/$count",
                                  "RetrieveCurrentOrganization(AccessType=@p1)", "contacts(emailaddress1='a@b.c')"])
def test_it_keeps_web_api_paths_intact(path):
    assert raw_target(BASE, path) == path


@pytest.mark.parametrize("path", ["..", "a/../b", "a\\b", "a//b", "http:", "a b", "a%2fb", "a?x=1", "a#x", "ä",
                                  "accounts\n"])
def test_it_refuses_paths_outside_the_grammar(path):
    with pytest.raises(RawPathError):
        raw_target(BASE, path)


@pytest.mark.parametrize("path", ["%0A", "accounts%0A", "%0D%0Ahost:evil", "\u00e9"])
def test_it_answers_control_characters_in_the_path_with_a_problem(app, path):
    answer = app.get(f"/api/v1/crm/raw/{path}")
    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
