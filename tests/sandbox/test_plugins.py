"""Webhook registration (serviceendpoints, sdkmessages, sdkmessagefilters, sdkmessageprocessingsteps)
and the asynchronous posts of execution contexts after committed changes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import FOURTH_COFFEE

HEADER = '<settings><setting name="x-portal-key" value="k-123" /></settings>'


class Receiver:
    """A webhook receiver on a free loopback port: records each POST's path, headers and JSON body;
    answers 500 while `failures` is positive."""

    def __init__(self):
        self.received: list[dict] = []
        self.failures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.failures > 0:
                    outer.failures -= 1
                    self.send_response(500)
                else:
                    outer.received.append({"path": self.path, "headers": dict(self.headers),
                                           "body": json.loads(body)})
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, self.received
        return self.received


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def _register(api, url: str, table: str = "account", messages=("Create", "Update", "Delete")) -> str:
    resp = api.post("serviceendpoints", {"name": "portal hook", "contract": 8, "url": url, "authtype": 5,
                                          "authvalue": HEADER})
    assert resp.status_code == 204, resp.text
    endpoint = resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    for message in messages:
        (found,) = api.ok("GET", f"sdkmessages?$filter=name eq '{message}'")["value"]
        (filt,) = api.ok("GET", f"sdkmessagefilters?$filter=primaryobjecttypecode eq '{table}' and "
                                f"_sdkmessageid_value eq {found['sdkmessageid']}")["value"]
        resp = api.post("sdkmessageprocessingsteps", {
            "name": f"{message} of {table}", "stage": 40, "mode": 1, "rank": 1, "asyncautodelete": False,
            "sdkmessageid@odata.bind": f"/sdkmessages({found['sdkmessageid']})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filt['sdkmessagefilterid']})",
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})"})
        assert resp.status_code == 204, resp.text
    return endpoint


def test_it_posts_the_execution_context_of_each_committed_change(app_api, receiver):
    _register(app_api, receiver.url)
    resp = app_api.post("accounts", {"name": "Webhook Co"})
    account = resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert app_api.patch(f"accounts({account})", {"telephone1": "555"}).status_code == 204
    assert app_api.delete(f"accounts({account})").status_code == 204
    app_api.patch(f"contacts({FOURTH_COFFEE})", {"lastname": "x"})  # not registered: no post

    posts = receiver.wait_for(3)
    assert [p["body"]["MessageName"] for p in posts] == ["Create", "Update", "Delete"]
    first = posts[0]
    assert first["headers"]["x-portal-key"] == "k-123"
    assert first["headers"]["x-ms-dynamics-entity-name"] == "account"
    assert first["headers"]["x-ms-dynamics-request-name"] == "Create"
    assert first["headers"]["x-ms-correlation-request-id"] == first["body"]["CorrelationId"]
    assert "/dataverse/contoso" in first["headers"]["x-ms-dynamics-organization"]
    body = first["body"]
    assert body["PrimaryEntityName"] == "account" and body["PrimaryEntityId"] == account
    assert body["Stage"] == 40 and body["Mode"] == 1 and body["OperationCreatedOn"].startswith("/Date(")
    target = body["InputParameters"][0]["value"]
    assert {"key": "name", "value": "Webhook Co"} in target["Attributes"]
    delete_target = posts[2]["body"]["InputParameters"][0]["value"]
    assert delete_target["LogicalName"] == "account" and delete_target["Id"] == account
    time.sleep(0.5)
    assert len(receiver.received) == 3


def test_it_lists_filters_and_deletes_registrations(app_api, receiver, sbx):
    endpoint = _register(app_api, receiver.url, messages=("Create",))
    listed = app_api.ok("GET", "serviceendpoints?$filter=contract eq 8&$select=serviceendpointid,name,authtype,url")
    assert [e["serviceendpointid"] for e in listed["value"]] == [endpoint]
    assert "authvalue" not in app_api.ok("GET", f"serviceendpoints({endpoint})")
    steps = app_api.ok("GET", f"sdkmessageprocessingsteps?$filter=_eventhandler_value eq {endpoint}")["value"]
    assert len(steps) == 1 and steps[0]["stage"] == 40
    assert app_api.delete(f"serviceendpoints({endpoint})").status_code == 204
    counts = sbx.admin("GET", "webhook-faults")["registrations"]["contoso"]
    assert counts == {"serviceendpoints": 0, "sdkmessageprocessingsteps": 0}


def test_it_refuses_bad_registrations(app_api):
    resp = app_api.post("serviceendpoints", {"name": "x", "contract": 8, "url": "https://h.example", "authtype": 5,
                                              "authvalue": "not xml"})
    assert resp.status_code == 400
    resp = app_api.post("serviceendpoints", {"contract": 8})
    assert resp.status_code == 400 and "'name'" in resp.json()["error"]["message"]
    resp = app_api.post("sdkmessageprocessingsteps", {"name": "s", "stage": 20, "mode": 1, "rank": 1})
    assert resp.status_code == 400
    assert app_api.get("serviceendpoints?$top=\u00b2").status_code == 400  # a digit to isdigit(), not to int()


def test_it_refuses_registration_without_the_privilege(lee_api):
    resp = lee_api.post("serviceendpoints", {"name": "x", "contract": 8, "url": "https://h.example",
                                              "authtype": 4, "authvalue": "k"})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "0x80040220"
    assert "prvCreateServiceEndpoint" in resp.json()["error"]["message"]


def test_it_retries_a_failing_endpoint_and_drops_on_request(app_api, receiver, sbx, settings):
    _register(app_api, receiver.url, messages=("Create",))
    receiver.failures = 1
    app_api.post("accounts", {"name": "Retry Co"})
    assert receiver.wait_for(1)[0]["body"]["MessageName"] == "Create"
    assert sbx.admin("GET", "webhook-faults")["counters"]["retried"] >= 1

    sbx.admin("POST", "webhook-faults", {"drop_percent": 100})
    app_api.post("accounts", {"name": "Dropped Co"})
    deadline = time.monotonic() + 20
    while sbx.admin("GET", "webhook-faults")["counters"]["dropped"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sbx.admin("GET", "webhook-faults")["counters"]["dropped"] == 1
    assert len(receiver.received) == 1


def test_boolean_columns_of_the_registration_tables_answer_true_or_false(app_api):
    filters = app_api.ok("GET", "sdkmessagefilters?$top=3")["value"]
    assert filters and all(f["iscustomprocessingstepallowed"] is True for f in filters)
    one = app_api.ok("GET", f"sdkmessagefilters({filters[0]['sdkmessagefilterid']})")
    assert one["iscustomprocessingstepallowed"] is True
