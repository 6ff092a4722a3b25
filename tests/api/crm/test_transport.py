"""The instance API's connections to Dataverse: kept open between calls, replaced when closed."""

from __future__ import annotations

import gzip
import socket
import zlib

import pytest
import requests

from setup_portal.api.models import ApiCall
from setup_portal.dataverse import transport

URL = "/api/v1/crm/accounts"


def test_it_keeps_one_connection_open_across_calls(app, clean_sandbox):
    assert app.get(URL, {"pageSize": "1"}).status_code == 200
    opened = transport.connections_opened()
    for _ in range(5):
        assert app.get(URL, {"pageSize": "2"}).status_code == 200
    assert transport.connections_opened() == opened  # no new TCP/TLS handshake per call


def test_it_replaces_a_connection_that_was_closed(app, clean_sandbox):
    assert app.get(URL, {"pageSize": "1"}).status_code == 200
    opened = transport.connections_opened()
    for conn in transport._local.connections.values():
        conn.sock.shutdown(socket.SHUT_RDWR)  # as when the server drops an idle keep-alive connection
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 200
    assert transport.connections_opened() == opened + 1
    assert ApiCall.objects.filter(instance=app.instance).latest("id").retries == 0  # replaced before sending


def test_it_maps_an_unreachable_dataverse_to_requests_connection_error(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(requests.ConnectionError):
        transport.request("GET", f"http://127.0.0.1:{port}/api/data/v9.2/accounts", headers={}, use_sandbox=False)


def test_it_refuses_other_hosts_when_outbound_is_loopback_only(settings):
    settings.OUTBOUND_LOOPBACK_ONLY = True
    with pytest.raises(requests.ConnectionError, match="OUTBOUND_LOOPBACK_ONLY"):
        transport.request("GET", "https://contoso.crm.dynamics.com/api/data/v9.2/accounts", headers={},
                          use_sandbox=False)


@pytest.mark.parametrize("encoding, encode", [
    ("gzip", gzip.compress), ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, without the zlib header
    ("identity", lambda data: data),
])
def test_it_decodes_the_content_encodings_it_asks_for(encoding, encode):
    body = b'{"value": []}'
    assert transport._decoded(encode(body), encoding) == body


def test_it_reports_a_body_that_does_not_decode():
    with pytest.raises(requests.exceptions.ContentDecodingError):
        transport._decoded(b"not gzip", "gzip")


def test_it_reads_a_ca_file_again_when_it_changes(sandbox, tmp_path):
    import os
    import shutil

    ca_file = tmp_path / "ca.pem"
    shutil.copy(sandbox.info["ca_cert_path"], ca_file)
    first = transport._tls_context(str(ca_file))
    assert transport._tls_context(str(ca_file)) is first  # read once while it stays the same
    stat = ca_file.stat()
    os.utime(ca_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a sandbox's new CA
    assert transport._tls_context(str(ca_file)) is not first


def test_it_reports_a_missing_ca_file_as_a_failed_connection(tmp_path):
    with pytest.raises(requests.exceptions.SSLError):
        transport._connection("https", "127.0.0.1", 9, str(tmp_path / "missing.pem"), 1)
