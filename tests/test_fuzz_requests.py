"""Requests no browser would send (raw bytes, odd content types and charsets, too many or too big
fields): every form of the portal answers with a 4xx, or as if the body were empty, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from tests import fuzz
from tests.instances.factories import make_instance
from tests.wizard.helpers import new_setup, stage_url

CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=utf-16", "application/x-www-form-urlencoded; charset=no-such-charset",
    "multipart/form-data; boundary=x", "multipart/form-data", "multipart/form-data; boundary=",
    "multipart/form-data; boundary=\"\x00\"", "text/plain", "application/json", "", "\x00",
]
MULTIPART_NUL = b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\na\x00b\r\n--x--\r\n'


@pytest.fixture
def form_paths(alice):
    client = Client()
    client.force_login(alice)
    setup = new_setup(client)
    inst = make_instance(alice, name="contoso-sales")
    return client, [stage_url(setup, "environment"), "/users/add/", f"/instances/{inst.pk}/disable/",
                    f"/instances/{inst.pk}/rotate-secret/"]


@pytest.mark.parametrize(("body", "content_type"), [
    ("&".join(f"f{i}=x" for i in range(1500)).encode(), CONTENT_TYPES[0]),  # more than DATA_UPLOAD_MAX_NUMBER_FIELDS
    (b"a=" + b"x" * 3_000_000, CONTENT_TYPES[0]),  # more than DATA_UPLOAD_MAX_MEMORY_SIZE
    (b"garbage", "multipart/form-data"),  # no boundary
    (MULTIPART_NUL, "multipart/form-data; boundary=x"),
    (b"\xff\xfe=\xed\xa0\x80", "application/x-www-form-urlencoded; charset=no-such-charset"),
], ids=["too-many-fields", "too-big", "no-boundary", "multipart-nul", "unknown-charset"])
def test_it_answers_malformed_bodies_without_a_500(form_paths, body, content_type):
    client, paths = form_paths
    for path in paths:
        fuzz.assert_answered(client.generic("POST", path, body, content_type=content_type))


@fuzz.fuzz(15)
@given(body=st.one_of(st.binary(max_size=300), st.builds(lambda raw: fuzz.encode({"name": raw}).encode(),
                                                         fuzz.hostile_text)),
       content_type=st.sampled_from(CONTENT_TYPES), query=st.binary(max_size=100))
def test_no_raw_request_gives_a_500(form_paths, body, content_type, query):
    client, paths = form_paths
    for path in paths:
        fuzz.assert_answered(client.generic("POST", path, body, content_type=content_type))
    for path in ("/audit/export.csv", "/instances/export.csv"):
        fuzz.assert_answered(client.get(f"{path}?{fuzz.quote_path(query.decode('latin-1'))}"))
