"""The sandbox Dataverse's $batch over real HTTP: GET parts, change sets (atomic, with `$1`
references), continue-on-error, the 1,000-request limit. Answers are read with the standard
library's MIME parser, not the sandbox's own code."""

from __future__ import annotations

import json
import uuid
from email import message_from_bytes, policy
from urllib.parse import quote

from .conftest import APP_USER_ID, FOURTH_COFFEE, set_limits


def http_part(method: str, url: str, body: dict | None = None, content_id: str | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(body)]
    else:
        lines += ["", ""]
    return "\r\n".join(lines)


def change_set(boundary: str, parts: list[str]) -> str:
    inner = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}--{boundary}--"


def send(api, items: list[str], prefer: str | None = None):
    boundary = f"batch_{uuid.uuid4()}"
    body = "".join(f"--{boundary}\r\n{item}\r\n" for item in items) + f"--{boundary}--\r\n"
    headers = {"Content-Type": f'multipart/mixed; boundary="{boundary}"'}
    if prefer:
        headers["Prefer"] = prefer
    return api.request("POST", "$batch", data=body.encode(), headers=headers)


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: str, content_id: str | None):
        self.status, self.headers, self.body, self.content_id = status, headers, body, content_id

    def json(self) -> dict:
        return json.loads(self.body)


def answers(resp) -> list[Answer | list[Answer]]:
    """The batch response as HTTP answers; a change set's answers as a list."""
    assert resp.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    message = message_from_bytes(f"Content-Type: {resp.headers['Content-Type']}\r\n\r\n".encode() + resp.content,
                                 policy=policy.HTTP)
    return [_read(part) for part in message.iter_parts()]


def _read(part) -> Answer | list[Answer]:
    if part.get_content_type() == "multipart/mixed":
        assert part.get_boundary().startswith("changesetresponse_")
        return [_read(inner) for inner in part.iter_parts()]
    assert part.get_content_type() == "application/http"
    raw = part.get_payload(decode=True).decode()
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return Answer(int(status_line.split()[1]), headers, body.strip(), part.get("Content-ID"))


def accounts_named(api, name: str) -> list[dict]:
    return api.ok("GET", f"accounts?$select=name&$filter=name eq '{name}'")["value"]


def test_it_answers_get_parts(app_api):
    resp = send(app_api, [http_part("GET", "/api/data/v9.2/WhoAmI"),
                          http_part("GET", f"{app_api.base}accounts({FOURTH_COFFEE})?$select=name"),
                          http_part("GET", "accounts?$select=name&$top=2")])
    assert resp.status_code == 200, resp.text
    who, fourth, listing = answers(resp)
    assert who.status == 200 and who.json()["UserId"] == APP_USER_ID
    assert fourth.status == 200 and fourth.json()["name"] == "Fourth Coffee"
    assert listing.status == 200 and len(listing.json()["value"]) == 2
    assert listing.headers["Content-Type"].startswith("application/json")


def test_it_runs_a_change_set_with_references(app_api):
    name = f"Batch Co {uuid.uuid4().hex[:8]}"
    resp = send(app_api, [change_set("changeset_a1", [
        http_part("POST", "/api/data/v9.2/accounts", {"name": name}, content_id="1"),
        http_part("POST", "contacts", {"lastname": "Referenced", "parentcustomerid_account@odata.bind": "$1"},
                  content_id="2"),
        http_part("PATCH", "$1", {"telephone1": "555-0101"}, content_id="3"),
    ]), http_part("GET", f"accounts?$select=name,telephone1&$filter=name%20eq%20'{quote(name)}'")])
    assert resp.status_code == 200, resp.text
    changes, listing = answers(resp)
    assert [a.status for a in changes] == [204, 204, 204]
    assert [a.content_id for a in changes] == ["1", "2", "3"]
    account_url = changes[0].headers["OData-EntityId"]
    assert changes[0].headers["Location"] == account_url
    account_id = account_url.rsplit("(", 1)[1].rstrip(")")
    contact_id = changes[1].headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert listing.json()["value"][0]["telephone1"] == "555-0101"
    assert app_api.ok("GET", f"contacts({contact_id})")["_parentcustomerid_value"] == account_id


def test_it_rolls_a_failing_change_set_back(app_api):
    name = f"Never Saved {uuid.uuid4().hex[:8]}"
    version = app_api.sbx.admin("GET", "dataverse/contoso/changes?limit=1")["version"]
    resp = send(app_api, [change_set("changeset_b2", [
        http_part("POST", "accounts", {"name": name}, content_id="1"),
        http_part("POST", "contacts", {"lastname": "Fine", "parentcustomerid_account@odata.bind": "$1"},
                  content_id="2"),
        http_part("POST", "contacts", {"lastname": "Broken", "nosuchcolumn": 1}, content_id="3"),
    ])])
    assert resp.status_code == 400, resp.text
    (failure,) = answers(resp)
    assert isinstance(failure, Answer) and failure.status == 400
    assert "nosuchcolumn" in failure.json()["error"]["message"]
    assert accounts_named(app_api, name) == []
    assert app_api.ok("GET", "contacts?$select=lastname&$filter=lastname eq 'Fine'")["value"] == []
    # The rolled-back versions were never published, and the next write continues from them.
    assert app_api.sbx.admin("GET", "dataverse/contoso/changes?limit=1")["version"] == version
    created = app_api.post("accounts", {"name": "After the rollback"})
    assert int(app_api.ok("GET", created.headers["OData-EntityId"])["versionnumber"]) == version + 1


def test_it_refuses_an_undeclared_reference(app_api):
    resp = send(app_api, [change_set("changeset_c3", [
        http_part("POST", "contacts", {"lastname": "Early", "parentcustomerid_account@odata.bind": "$1"},
                  content_id="2"),
        http_part("POST", "accounts", {"name": "Late"}, content_id="1"),
    ])])
    assert resp.status_code == 400
    (failure,) = answers(resp)
    assert failure.json()["error"]["message"] == "Content-ID Reference: '$1' does not exist in the batch context."


def test_it_stops_at_the_first_failure_without_continue_on_error(app_api):
    name = f"Second {uuid.uuid4().hex[:8]}"
    items = [http_part("POST", "tasks", {"subject": "x" * 201}), http_part("POST", "accounts", {"name": name})]
    resp = send(app_api, items)
    assert resp.status_code == 400
    (failure,) = answers(resp)
    assert failure.status == 400 and failure.json()["error"]["code"] == "0x80044331"
    assert accounts_named(app_api, name) == []

    resp = send(app_api, items, prefer="odata.continue-on-error")
    assert resp.status_code == 200
    assert resp.headers["Preference-Applied"] == "odata.continue-on-error"
    failure, created = answers(resp)
    assert (failure.status, created.status) == (400, 204)
    assert len(accounts_named(app_api, name)) == 1


def test_it_refuses_more_than_1000_requests(app_api):
    name = f"Too Many {uuid.uuid4().hex[:8]}"
    items = [http_part("POST", "accounts", {"name": name})] + [http_part("GET", "WhoAmI")] * 1000
    resp = send(app_api, items)
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == ("The batch contains 1001 requests, which exceeds the maximum "
                                              "allowed (1000).")
    assert accounts_named(app_api, name) == []


def test_it_takes_exactly_1000_requests_counting_those_in_change_sets(app_api):
    name = f"Just Enough {uuid.uuid4().hex[:8]}"
    items = [change_set("changeset_g7", [http_part("POST", "accounts", {"name": name}, content_id="1"),
                                         http_part("PATCH", "$1", {"telephone1": "555-1000"}, content_id="2")])]
    resp = send(app_api, items + [http_part("GET", "WhoAmI")] * 998)
    assert resp.status_code == 200, resp.text[:300]
    changes, *gets = answers(resp)
    assert [a.status for a in changes] == [204, 204] and len(gets) == 998
    assert {a.status for a in gets} == {200}
    assert len(accounts_named(app_api, name)) == 1


def test_it_refuses_a_get_inside_a_change_set_and_a_body_that_is_not_multipart(app_api):
    resp = send(app_api, [change_set("changeset_d4", [http_part("GET", "WhoAmI")])])
    assert resp.status_code == 400
    assert "GET requests are not allowed within change sets" in resp.json()["error"]["message"]
    plain = app_api.request("POST", "$batch", data=b"{}", headers={"Content-Type": "application/json"})
    assert plain.status_code == 400 and plain.json()["error"]["code"] == "0x80060888"
    unterminated = app_api.request("POST", "$batch", data=b"--b\r\n" + http_part("GET", "WhoAmI").encode(),
                                   headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert unterminated.status_code == 400


def test_it_counts_a_batch_as_one_request_against_the_limits(app_api):
    """As documented: a batch avoids the number-of-requests limit; its execution time still counts."""
    set_limits(app_api.sbx, requests=3)
    try:
        resp = send(app_api, [http_part("GET", "WhoAmI")] * 10)
        assert resp.status_code == 200 and len(answers(resp)) == 10
        assert resp.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "2"
    finally:
        set_limits(app_api.sbx)


def test_every_part_of_a_batch_counts_towards_the_execution_time(app_api):
    """As documented: bundling requests in a batch does not escape the combined execution-time limit.
    delay_ms makes the batch and each of its parts take that long: 150 + 6 x 150 ms crosses 1,000 ms,
    which no single request here comes near."""
    set_limits(app_api.sbx, execution_ms=1000, delay_ms=150)
    try:
        resp = send(app_api, [http_part("GET", "WhoAmI")] * 6)
        assert resp.status_code == 200 and len(answers(resp)) == 6
        (usage,) = app_api.sbx.admin("GET", "dataverse/limits")["usage"]
        assert usage["requests"] == 1 and usage["execution_ms"] >= 7 * 150
        throttled = app_api.get("WhoAmI")
        assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "0x80072321"
    finally:
        set_limits(app_api.sbx)


def test_a_change_set_may_hold_a_bulk_action_and_rolls_it_back_with_the_rest(app_api):
    name = f"Bulk In Set {uuid.uuid4().hex[:8]}"
    targets = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": name}]}
    resp = send(app_api, [change_set("changeset_e5", [
        http_part("POST", "accounts/Microsoft.Dynamics.CRM.CreateMultiple", targets, content_id="1"),
        http_part("POST", "accounts", {"name": "x" * 1000}, content_id="2"),
    ])])
    assert resp.status_code == 400, resp.text
    assert accounts_named(app_api, name) == []
    resp = send(app_api, [change_set("changeset_f6", [
        http_part("POST", "accounts/Microsoft.Dynamics.CRM.CreateMultiple", targets, content_id="1")])])
    assert resp.status_code == 200 and len(answers(resp)[0][0].json()["Ids"]) == 1
    assert len(accounts_named(app_api, name)) == 1


def test_it_refuses_a_batch_inside_a_batch(app_api):
    resp = send(app_api, [http_part("POST", "$batch", {})])
    assert resp.status_code == 400
    assert "can't contain other batch requests" in answers(resp)[0].json()["error"]["message"]


MALFORMED = [
    b"",
    b"--b\r\n\r\n--b--\r\n",
    b"--b\r\nContent-Type: application/http\r\n\r\nNOT A REQUEST LINE\r\n--b--\r\n",
    b"--b\r\nContent-Type: application/http\r\n\r\n"
    b"GET https://elsewhere.example/api/data/v9.2/WhoAmI HTTP/1.1\r\n\r\n--b--",
    b"--b\r\nContent-Type: multipart/mixed\r\n\r\n--c\r\n--c--\r\n--b--\r\n",
    b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: application/http\r\n\r\n"
    b"POST accounts HTTP/1.1\r\n\r\n{\"name\": \"no end\"}\r\n--b--\r\n",
    b"--b\r\nno colon here\r\n\r\nGET WhoAmI HTTP/1.1\r\n\r\n--b--\r\n",
    b"--b\r\nContent-Type: application/http\r\n\r\nPOST accounts HTTP/1.1\r\n\r\n\xff\xfe{\r\n--b--\r\n",
]


def test_it_answers_malformed_batches_with_a_4xx(app_api):
    for body in MALFORMED:
        resp = app_api.request("POST", "$batch", data=body, headers={"Content-Type": "multipart/mixed; boundary=b"})
        assert 400 <= resp.status_code < 500, (body, resp.status_code, resp.text[:300])
