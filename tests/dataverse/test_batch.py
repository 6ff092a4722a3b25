"""The $batch wire format, read by the sandbox's own parser and written back by its renderer."""

from __future__ import annotations

import pytest

from setup_portal.dataverse import batch
from setup_portal.sandbox.views import batch as sandbox_batch

BASE = "https://org.example.com/api/data/v9.2/"
ONE = "00000000-0000-4000-8000-000000000001"


def test_it_writes_requests_and_change_sets_the_sandbox_reads():
    content_type, body = batch.encode([
        batch.Request("POST", BASE + "accounts", {"name": "Ünïcode"}),
        batch.ChangeSet((batch.Request("PATCH", f"{BASE}accounts({ONE})", {"name": "b"}, content_id="1"),
                         batch.Request("DELETE", "$1", content_id="2", headers={"If-Match": "*"}))),
    ])
    items = sandbox_batch.parse(content_type, body)
    assert [p.method for p in [items[0], *items[1].parts]] == ["POST", "PATCH", "DELETE"]
    assert items[0].body.decode() == '{"name": "\\u00dcn\\u00efcode"}'
    assert items[1].parts[0].content_id == "1" and items[1].parts[1].target == "$1"
    assert items[1].parts[1].headers["if-match"] == "*" and items[1].parts[1].body == b""


def test_it_reads_answers_in_order_a_change_sets_as_a_list():
    rendered = sandbox_batch.render([
        sandbox_batch.Result(204, [("OData-EntityId", f"{BASE}accounts({ONE})")], b""),
        [sandbox_batch.Result(400, [("Content-Type", "application/json")],
                              b'{"error": {"code": "0x80040203", "message": "Bad \'name\'"}}', "1")],
    ], "batchresponse_x")
    answers = batch.decode("multipart/mixed; boundary=batchresponse_x", rendered)
    assert answers[0].status == 204 and answers[0].entity_id == ONE
    failed = answers[1][0]
    assert failed.status == 400 and failed.content_id == "1" and failed.error == ("0x80040203", "Bad 'name'")


@pytest.mark.parametrize("content_type, body", [
    ("application/json", b"{}"),
    ("multipart/mixed; boundary=b", b"--b\r\nContent-Type: application/http\r\n\r\nnot a status line\r\n--b--\r\n"),
    # A status of digits str.isdigit() takes but int() does not read.
    ("multipart/mixed; boundary=b",
     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 \u00b2\u00b2 OK\r\n\r\n--b--\r\n".encode()),
])
def test_it_refuses_answers_that_are_not_a_batch(content_type, body):
    with pytest.raises(batch.BatchFormatError):
        batch.decode(content_type, body)
