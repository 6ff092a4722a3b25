"""The instance API's resources, through HTTP against the sandbox's Dataverse."""

from __future__ import annotations

import pytest

from setup_portal.api.models import ApiCall
from setup_portal.instances.models import Instance

PROBLEM = "application/problem+json"
# A field each resource can be created with and one to change afterwards.
ROUND_TRIPS = {
    "accounts": ({"name": "Round Trip Ltd", "city": "Lyon"}, {"city": "Paris"}),
    "contacts": ({"firstName": "Ada", "lastName": "Round"}, {"jobTitle": "Engineer"}),
    "leads": ({"subject": "Round trip lead", "lastName": "Lead"}, {"companyName": "Trip Inc."}),
    "opportunities": ({"name": "Round trip deal", "estimatedValue": 1500}, {"closeProbability": 40}),
    "tasks": ({"subject": "Call back", "priority": 1}, {"percentComplete": 50}),
    "notes": ({"subject": "Round trip note", "text": "first"}, {"text": "second"}),
}


@pytest.mark.parametrize("resource", list(ROUND_TRIPS))
def test_it_creates_reads_updates_and_deletes_each_resource(app, clean_sandbox, resource):
    created_body, change = ROUND_TRIPS[resource]
    created = app.post(f"/api/v1/crm/{resource}", created_body)
    assert created.status_code == 201, created.content
    record = created.json()
    assert {k: record[k] for k in created_body} == created_body
    assert record["_etag"].startswith('W/"')
    url = f"/api/v1/crm/{resource}/{record['id']}"
    assert created["Location"].endswith(url)

    fetched = app.get(url)
    assert fetched.status_code == 200 and fetched.json()["id"] == record["id"]

    updated = app.patch(url, change, **{"If-Match": record["_etag"]})
    assert updated.status_code == 200, updated.content
    assert {k: updated.json()[k] for k in change} == change
    assert updated.json()["_etag"] != record["_etag"]

    assert app.delete(url).status_code == 204
    gone = app.get(url)
    assert gone.status_code == 404 and gone["Content-Type"] == PROBLEM
    assert gone.json()["status"] == 404 and gone.json()["code"]


def test_it_answers_412_on_a_stale_etag(app, clean_sandbox):
    record = app.post("/api/v1/crm/accounts", {"name": "Etag Co"}).json()
    url = f"/api/v1/crm/accounts/{record['id']}"
    assert app.patch(url, {"city": "Oslo"}).status_code == 200
    stale = app.patch(url, {"city": "Bergen"}, **{"If-Match": record["_etag"]})
    assert stale.status_code == 412 and stale["Content-Type"] == PROBLEM
    assert stale.json()["code"] == "0x80060882"
    assert app.delete(url, **{"If-Match": record["_etag"]}).status_code == 412
    app.delete(url)


def test_it_does_not_create_a_record_with_patch(app, clean_sandbox):
    missing = app.patch("/api/v1/crm/accounts/7e0f3a70-0000-4000-8000-000000000001", {"name": "Upsert"})
    assert missing.status_code == 404


def test_it_lists_activities_but_refuses_writes_to_them(app, clean_sandbox):
    listed = app.get("/api/v1/crm/activities", {"pageSize": "2"})
    assert listed.status_code == 200 and len(listed.json()["records"]) == 2
    refused = app.post("/api/v1/crm/activities", {"subject": "x"})
    assert refused.status_code == 405 and refused["Content-Type"] == PROBLEM and refused["Allow"] == "GET, OPTIONS"
    record_id = listed.json()["records"][0]["id"]
    assert app.patch(f"/api/v1/crm/activities/{record_id}", {"subject": "x"}).status_code == 405
    assert app.delete(f"/api/v1/crm/activities/{record_id}").status_code == 405


def test_options_names_only_the_methods_the_table_allows(app, clean_sandbox):
    def allow(path: str) -> str:
        answer = app.client.options(f"/api/v1/crm/{path}", headers=app._headers(None))
        assert answer.status_code == 200, (path, answer.content)
        return answer["Allow"]

    assert allow("activities") == allow("systemusers") == "GET, OPTIONS"
    assert allow("accounts") == allow("cr8a2_projects") == "GET, POST, OPTIONS"
    record = app.get("/api/v1/crm/activities", {"pageSize": "1"}).json()["records"][0]["id"]
    assert allow(f"activities/{record}") == "GET, OPTIONS"
    assert allow(f"accounts/{record}") == "GET, PATCH, DELETE, OPTIONS"
    assert app.client.options("/api/v1/crm/nosuchtable", headers=app._headers(None)).status_code == 404


def test_it_pages_through_a_list_with_next_page(app, clean_sandbox):
    seen, cursor, pages = [], None, 0
    while pages < 4:
        params = {"nextPage": cursor} if cursor else {"pageSize": "40", "where": "city = 'Paris' or city = 'Lyon' "
                                                      "or employees > 0", "fields": "name,city"}
        answer = app.get("/api/v1/crm/accounts", params)
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert len(body["records"]) == 40
        assert all(set(r) <= {"id", "name", "city", "_etag"} for r in body["records"])
        seen += [r["id"] for r in body["records"]]
        cursor, pages = body["nextPage"], pages + 1
        assert cursor
    assert len(seen) == len(set(seen)) == 160


def test_it_refuses_a_cursor_of_another_resource(app, clean_sandbox):
    cursor = app.get("/api/v1/crm/accounts", {"pageSize": "1"}).json()["nextPage"]
    answer = app.get("/api/v1/crm/contacts", {"nextPage": cursor})
    assert answer.status_code == 400 and answer.json()["errors"]["nextPage"]
    assert app.get("/api/v1/crm/accounts", {"nextPage": cursor[:-3] + "abc"}).status_code == 400


def test_it_leaves_null_fields_out_when_the_instance_filters_nulls(app, clean_sandbox):
    params = {"where": "description is null", "pageSize": "5"}
    with_nulls = app.get("/api/v1/crm/accounts", params).json()["records"]
    assert all("description" in r and r["description"] is None for r in with_nulls)
    Instance.objects.filter(pk=app.instance.pk).update(filter_nulls=True)
    without = app.get("/api/v1/crm/accounts", params).json()["records"]
    assert [r["id"] for r in without] == [r["id"] for r in with_nulls]
    assert all(None not in r.values() for r in without)
    one = app.get(f"/api/v1/crm/accounts/{without[0]['id']}").json()
    assert "description" not in one


def test_it_filters_with_where(app, clean_sandbox):
    answer = app.get("/api/v1/crm/accounts", {"where": "name = 'Fourth Coffee'"})
    assert [r["name"] for r in answer.json()["records"]] == ["Fourth Coffee"]
    like = app.get("/api/v1/crm/accounts", {"where": "name like 'Fourth%' and city in ('Paris', 'Seattle', 'Lyon')",
                                            "fields": "name"})
    assert like.status_code == 200
    assert all(r["name"].startswith("Fourth") for r in like.json()["records"])


@pytest.mark.parametrize("where", [
    "name = 'x' or 1 eq 1",
    "name = 'x') or (1 = 1",
    "name eq 'x'",
    "name = 'x'; drop table accounts",
    "name = 'unterminated",
    "nosuchfield = 1",
])
def test_it_refuses_where_injection_attempts(app, clean_sandbox, where):
    answer = app.get("/api/v1/crm/accounts", {"where": where})
    assert answer.status_code == 400 and answer["Content-Type"] == PROBLEM
    assert answer.json()["errors"]


@pytest.mark.parametrize("name", ["x' or name ne 'y", "O'Brien') or (name ne '", "a%' or 1 eq 1 or name eq '"])
def test_it_matches_quotes_in_where_literally(app, clean_sandbox, name):
    quoted = name.replace("'", "''")
    answer = app.get("/api/v1/crm/accounts", {"where": f"name = '{quoted}'"})
    assert answer.status_code == 200 and answer.json()["records"] == []
    created = app.post("/api/v1/crm/accounts", {"name": name}).json()
    found = app.get("/api/v1/crm/accounts", {"where": f"name = '{quoted}'"}).json()["records"]
    assert [r["id"] for r in found] == [created["id"]]
    app.delete(f"/api/v1/crm/accounts/{created['id']}")


def test_it_lists_the_known_fields_for_an_unknown_one(app, clean_sandbox):
    answer = app.get("/api/v1/crm/accounts", {"fields": "name,colour"})
    assert answer.status_code == 400
    assert "name" in answer.json()["knownFields"]


def test_it_refuses_unknown_parameters_and_resources(app, clean_sandbox):
    assert app.get("/api/v1/crm/accounts", {"filter": "x"}).status_code == 400
    unknown = app.get("/api/v1/crm/invoices")
    assert unknown.status_code == 404 and unknown["Content-Type"] == PROBLEM
    assert app.get("/api/v1/crm/accounts/not-a-guid").status_code == 404
    assert app.get("/api/v1/crm/accounts/").status_code == 404


def test_it_answers_validation_errors_per_field(app, clean_sandbox):
    answer = app.post("/api/v1/crm/accounts", {"name": "x", "revenue": "lots"})
    assert answer.status_code == 400
    assert answer.json()["errors"]["revenue"]
    assert app.post("/api/v1/crm/accounts", {"colour": "red"}).json()["errors"]["colour"]


def test_it_refuses_bodies_that_are_not_json(app, clean_sandbox):
    headers = {"Authorization": f"Bearer {app.token}"}
    form = app.client.post("/api/v1/crm/accounts", {"name": "x"}, headers=headers)
    assert form.status_code == 415 and form["Content-Type"] == PROBLEM
    broken = app.client.post("/api/v1/crm/accounts", "{nope", content_type="application/json", headers=headers)
    assert broken.status_code == 400 and broken["Content-Type"] == PROBLEM


def test_it_refuses_methods_a_resource_does_not_have(app, clean_sandbox):
    answer = app.client.put("/api/v1/crm/accounts", {}, content_type="application/json",
                            headers={"Authorization": f"Bearer {app.token}"})
    assert answer.status_code == 405 and answer["Content-Type"] == PROBLEM


def test_it_replays_an_idempotent_post(app, clean_sandbox):
    first = app.post("/api/v1/crm/accounts", {"name": "Once Only"}, **{"Idempotency-Key": "order-17"})
    again = app.post("/api/v1/crm/accounts", {"name": "Once Only"}, **{"Idempotency-Key": "order-17"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    found = app.get("/api/v1/crm/accounts", {"where": "name = 'Once Only'"}).json()["records"]
    assert len(found) == 1
    other = app.post("/api/v1/crm/accounts", {"name": "Twice"}, **{"Idempotency-Key": "order-17"})
    assert other.status_code == 422 and other["Content-Type"] == PROBLEM
    app.delete(f"/api/v1/crm/accounts/{first.json()['id']}")


def test_it_records_every_call(app, clean_sandbox):
    app.get("/api/v1/crm/accounts", {"pageSize": "1"})
    app.get("/api/v1/crm/accounts/7e0f3a70-0000-4000-8000-000000000002")
    calls = list(ApiCall.objects.filter(instance=app.instance).order_by("id"))
    assert [(c.method, c.resource, c.status) for c in calls] == [("GET", "accounts", 200),
                                                                  ("GET", "accounts/{id}", 404)]
    assert calls[0].upstream_ms is not None and calls[0].latency_ms >= calls[0].upstream_ms
    assert calls[0].caller_ip == "127.0.0.1" and calls[0].trace is None and calls[0].retries == 0


@pytest.mark.parametrize("accept, status", [("*/*", 200), ("application/json", 200), ("text/html", 406),
                                             ("application/xml", 406), ("text/html, application/json;q=0.5", 200)])
def test_it_answers_json_or_406_whatever_the_accept_header(app, clean_sandbox, accept, status):
    answer = app.get("/api/v1/crm/accounts", {"pageSize": "1"}, Accept=accept)
    assert answer.status_code == status
    assert answer["Content-Type"] == ("application/json" if status == 200 else "application/problem+json")


def test_it_answers_non_ascii_text_as_utf8_json(app, clean_sandbox):
    created = app.post("/api/v1/crm/accounts", {"name": "Société Générale \u2028 Zürich"})
    assert created.status_code == 201
    assert created.json()["name"] == "Société Générale \u2028 Zürich"
    # U+2028 stays escaped (DRF's rule, for JSON embedded in scripts); the rest is plain UTF-8 or escaped.
    assert "\u2028".encode() not in created.content


def test_it_renders_a_lone_surrogate_a_caller_sent(app, clean_sandbox):
    answer = app.client.post("/api/v1/crm/accounts", b'{"nosuchfield\\ud800": 1}', content_type="application/json",
                             headers={"Authorization": f"Bearer {app.token}"})
    assert answer.status_code == 400
    assert answer.content.isascii() and "\\ud800" in answer.content.decode()


@pytest.mark.parametrize("params", [{"pageSize": "2"}, {"pageSize": "0"}, {"bogus": "1"}, {"nextPage": "x"},
                                    {"where": "name = 'x"}, {"fields": "nope"}])
@pytest.mark.parametrize("path", ["/api/v1/crm/accounts", "/api/v1/crm/nothing"])
def test_a_list_answers_alike_with_and_without_drf(app, clean_sandbox, params, path):
    # The usual Accept takes the short way (views.CrmView._without_drf); a weighted one goes through DRF.
    # One request id for both: it is echoed, and it is in the problem details.
    same_id = {"X-Request-ID": "alike-check-1"}
    short = app.get(path, params, **same_id)
    drf = app.get(path, params, Accept="application/json;q=0.9", **same_id)
    assert short.status_code == drf.status_code
    assert {**short.json(), "nextPage": None} == {**drf.json(), "nextPage": None}
    assert dict(short.items()) == dict(drf.items())


@pytest.mark.parametrize("token", [None, "dci_made_up"])
def test_a_refused_list_answers_alike_with_and_without_drf(client, db, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers["X-Request-ID"] = "alike-check-2"  # echoed and in the problem details: one id for both
    short = client.get("/api/v1/crm/accounts", headers=headers)
    drf = client.get("/api/v1/crm/accounts", headers={**headers, "Accept": "application/json;q=0.9"})
    assert short.status_code == drf.status_code == 401
    assert short.json() == drf.json() and dict(short.items()) == dict(drf.items())


def test_it_answers_without_the_page_middleware_but_with_its_guards(app, clean_sandbox):
    answer = app.get("/api/v1/crm/accounts", {"pageSize": "1"})
    assert answer.status_code == 200 and not answer.cookies and "Cookie" not in answer.get("Vary", "")
    assert answer["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert answer["Permissions-Policy"] and answer["X-Frame-Options"] == "DENY"
    assert answer["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs first
    assert app.get("/api/v1/crm/accounts", {"pageSize": "1"}, Host="attacker.example").status_code == 400
