"""Fuzzing the instance API: hostile query options, bodies, raw paths and headers are answered with a
2xx or a 4xx problem — never a 5xx — and nothing reaches Dataverse but the instance's own Web API."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import assert_answered, form_data, fuzz, get, hostile_text, huge_or_hostile, quote_path

LIST_OPTIONS = {"where": huge_or_hostile, "fields": hostile_text, "orderBy": hostile_text, "pageSize": hostile_text,
                "nextPage": hostile_text, "filter": hostile_text}
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.integers(min_value=10**300, max_value=10**400), hostile_text),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=10), inner, max_size=3)),
                           max_leaves=6)
field_names = st.one_of(st.sampled_from(["name", "revenue", "employees", "id", "ownerId", "primaryContactId",
                                         "createdOn", "_etag", "industry", "creditOnHold", "state", "status"]),
                        hostile_text)


def _problem_or_success(response) -> None:
    assert_answered(response)
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"


def test_it_answers_any_list_options(app, clean_sandbox):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {app.token}"}

    @fuzz(60)
    @given(form_data(LIST_OPTIONS), st.sampled_from(["accounts", "contacts", "tasks", "activities"]))
    def check(options, resource):
        _problem_or_success(get(app.client, f"/api/v1/crm/{resource}", options, **headers))

    check()


def _json(value) -> str | None:
    try:
        return json.dumps(value)
    except (ValueError, UnicodeEncodeError):
        return None


def test_it_answers_any_body(app, clean_sandbox):
    headers = {"Authorization": f"Bearer {app.token}"}

    @fuzz(60)
    @given(st.one_of(st.dictionaries(field_names, json_values, max_size=4), json_values),
           st.sampled_from(["POST accounts", "PATCH accounts/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "POST tasks"]))
    def check(body, target):
        method, path = target.split(" ")
        text = _json(body)
        if text is None:
            return
        send = app.client.post if method == "POST" else app.client.patch
        response = send(f"/api/v1/crm/{path}", text, content_type="application/json", headers=headers)
        _problem_or_success(response)
        if response.status_code == 201:
            app.delete(f"/api/v1/crm/{path}/{response.json()['id']}")

    check()


def test_it_answers_any_raw_path(app, clean_sandbox):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {app.token}"}

    @fuzz(60)
    @given(st.lists(st.one_of(hostile_text, st.sampled_from(["..", ".", "", "accounts", "%2e%2e", "http:",
                                                               "WhoAmI", "$count"])), min_size=1, max_size=4))
    def check(segments):
        response = app.client.get("/api/v1/crm/raw/" + "/".join(quote_path(s) for s in segments), **headers)
        _problem_or_success(response)

    check()


def test_it_answers_any_authorization_and_idempotency_key(app, clean_sandbox):
    @fuzz(40)
    @given(hostile_text, hostile_text)
    def check(authorization, key):
        extra = {"HTTP_AUTHORIZATION": authorization.encode("utf-8", "surrogatepass").decode("latin-1"),
                 "HTTP_IDEMPOTENCY_KEY": key.encode("utf-8", "surrogatepass").decode("latin-1")}
        response = app.client.post("/api/v1/crm/accounts", "{}", content_type="application/json", **extra)
        _problem_or_success(response)
        assert response.status_code in (400, 401, 422, 201) or response.status_code == 409

    check()


@pytest.mark.parametrize(("body", "status"), [
    ("[" * 100_000 + "]" * 100_000, 400),  # past the recursion limit
    ('{"name": 1e400}', 400),  # inf, which no JSON encoder sends on
    ('{"revenue": 1' + "0" * 400 + "}", 400),  # too large for a float
    ('{"name": ' + "9" * 5000 + "}", 400),  # more digits than Python reads as an int
    (json.dumps({"name": "a" * 3_000_000}), 413),  # past DATA_UPLOAD_MAX_MEMORY_SIZE
], ids=["nested", "huge-float", "huge-int", "huge-literal", "too-large"])
def test_it_refuses_bodies_json_cannot_hold(app, clean_sandbox, body, status):
    for method, path in [("POST", "accounts"), ("PATCH", "accounts/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"),
                         ("POST", "raw/accounts"), ("PATCH", "raw/accounts(0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9)"),
                         ("POST", "accounts/bulk"), ("POST", "batch")]:
        response = app.client.generic(method, f"/api/v1/crm/{path}", body, content_type="application/json",
                                      HTTP_AUTHORIZATION=f"Bearer {app.token}")
        assert response.status_code == status, (method, path, response.content[:300])
        assert response["Content-Type"] == "application/problem+json"


def test_it_reads_only_ascii_digits_as_a_page_size(app, clean_sandbox):
    for odd in ("²", "١٢"):
        assert app.get("/api/v1/crm/accounts", {"pageSize": odd}).status_code == 400
        assert app.get("/api/v1/crm/raw/accounts", {"$top": odd}).status_code == 400
        # A header arrives as a WSGI server hands it on: its UTF-8 bytes, read as latin-1.
        prefer = f"odata.maxpagesize={odd}".encode().decode("latin-1")
        assert app.get("/api/v1/crm/raw/accounts", Prefer=prefer).status_code == 200
