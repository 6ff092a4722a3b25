"""The outbound guard: which callback URLs are refused, and how a checked one is called."""

from __future__ import annotations

import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from setup_portal.events import guard
from setup_portal.events.guard import OutboundRefused, Target, check_url, post
from setup_portal.sandbox.info import bases as sandbox_bases


@pytest.fixture
def sandbox_on(settings):
    settings.SANDBOX_ENABLED = True
    return settings


@pytest.fixture
def sandbox_off(settings):
    settings.SANDBOX_ENABLED = False
    return settings


def fixed(*addresses: str):
    """A resolver standing in for DNS (these tests never reach the internet)."""
    return lambda host, port: list(addresses)


# --- what is refused ------------------------------------------------------------------------
REFUSED_ADDRESSES = [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.10", "private"),
    ("100.64.0.1", "carrier-grade NAT"), ("169.254.169.254", "metadata"), ("169.254.10.1", "link-local"),
    ("fd00:ec2::254", "metadata"), ("fe80::1", "link-local"), ("fc00::1", "private"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("192.0.2.7", "private"), ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::a00:1", "private"), ("2002:a00:1::1", "private"), ("::ffff:169.254.169.254", "metadata"),
]


@pytest.mark.parametrize(("address", "why"), REFUSED_ADDRESSES)
def test_it_refuses_a_name_resolving_to_an_inner_address(sandbox_on, address, why):
    with pytest.raises(OutboundRefused, match=why):
        check_url("https://hooks.example.com/in", resolver=fixed(address))


def test_it_refuses_when_any_one_address_is_inner(sandbox_on):
    with pytest.raises(OutboundRefused, match="private"):
        check_url("https://hooks.example.com/in", resolver=fixed("93.184.216.34", "10.0.0.1"))


@pytest.mark.parametrize("url", [
    "https://10.0.0.1/in", "https://[fd00:ec2::254]/latest", "https://169.254.169.254/latest/meta-data",
    "https://[::ffff:192.168.0.1]/", "https://0x0a.0.0.1/", "https://167772161/",  # 10.0.0.1 in hex and decimal
    "https://012.0.0.1/",  # octal 10.0.0.1
])
def test_it_refuses_inner_ip_literals_in_any_spelling(sandbox_on, url):
    with pytest.raises(OutboundRefused):
        check_url(url)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/", "https://[::1]/", "https://localhost/", "https://hooks.localhost/", "https://2130706433/",
    "https://0177.0.0.1/", "https://127.1/", "https://[::ffff:127.0.0.1]/",
])
def test_it_refuses_loopback_while_the_sandbox_is_off(sandbox_off, url):
    with pytest.raises(OutboundRefused):
        check_url(url)


def _listeners() -> tuple[str, str]:
    """The sandbox's two listeners, as origins (http, https)."""
    return tuple(urlsplit(base).netloc for base in sandbox_bases())


@pytest.mark.parametrize("url", ["http://{http}/_sandbox/webhooks/x", "https://{https}/_sandbox/webhooks/AbC_-9",
                                 "http://localhost:{http_port}/_sandbox/webhooks/x?from=test"])
def test_it_allows_the_sandboxs_webhook_bins_while_the_sandbox_is_on(sandbox_on, url):
    http, https = _listeners()
    url = url.format(http=http, https=https, http_port=http.rsplit(":", 1)[1])
    assert all(ip.is_loopback for ip in check_url(url).addresses)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/_sandbox/webhooks/x",  # another port of this machine
    "https://{http}/_sandbox/webhooks/x", "http://{https}/_sandbox/webhooks/x",  # the other listener's scheme
    "http://{http}/x", "https://{https}/_sandbox/faults", "http://{http}/_sandbox/webhooks/x/config",
    "http://{http}/_sandbox/webhooks/", "https://{https}/_sandbox/webhooks/../reset", "http://[::1]:8000/admin/",
])
def test_it_refuses_any_other_loopback_url_while_the_sandbox_is_on(sandbox_on, url):
    http, https = _listeners()
    with pytest.raises(OutboundRefused, match="this machine"):
        check_url(url.format(http=http, https=https))


def test_it_refuses_a_name_that_also_resolves_to_loopback(sandbox_on):
    port = _listeners()[1].rsplit(":", 1)[1]
    with pytest.raises(OutboundRefused, match="this machine"):
        check_url(f"https://hooks.example.com:{port}/_sandbox/webhooks/x", resolver=fixed("93.184.216.34", "127.0.0.1"))


@pytest.mark.parametrize("url", ["http://hooks.example.com/in", "ftp://hooks.example.com/", "hooks.example.com",
                                 "https:///nohost", "https://user:pw@hooks.example.com/", "https://hooks.example.com:99999/",
                                 "https://hooks.example.com:0/",
                                 "https://" + "a" * 2000 + ".com/"])
def test_it_refuses_urls_that_are_not_plain_https(sandbox_on, url):
    with pytest.raises(OutboundRefused):
        check_url(url, resolver=fixed("93.184.216.34"))


def test_it_refuses_a_host_that_does_not_resolve(sandbox_on):
    def nxdomain(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(OutboundRefused, match="could not be resolved"):
        check_url("https://nowhere.invalid/", resolver=nxdomain)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::6810:84e5"])
def test_it_allows_public_addresses(sandbox_off, address):
    target = check_url("https://hooks.example.com/in?x=1", resolver=fixed(address))
    assert (target.host, target.port, [str(a) for a in target.addresses]) == ("hooks.example.com", 443, [address])


# --- how a checked target is called --------------------------------------------------------
class Receiver(BaseHTTPRequestHandler):
    seen: list[dict] = []
    answer = (200, {}, b"ok")
    delay = 0.0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        Receiver.seen.append({"path": self.path, "host": self.headers.get("Host"), "body": self.rfile.read(length)})
        time.sleep(Receiver.delay)
        status, headers, body = Receiver.answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.seen, Receiver.answer, Receiver.delay = [], (200, {}, b"ok"), 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _local(port: int, path: str = "/in") -> Target:
    """A target on the local receiver, as check_url would make it (which allows only the sandbox's bins there)."""
    return Target(url=f"http://127.0.0.1:{port}{path}", scheme="http", host="127.0.0.1", port=port,
                  addresses=(ipaddress.ip_address("127.0.0.1"),))


def test_it_connects_to_the_checked_address_keeping_the_host_name(sandbox_on, receiver, monkeypatch):
    # A resolver that would answer differently the second time (DNS rebinding) is asked once:
    # the connection goes to the address that was checked, and Host names the real host.
    # (The receiver stands where the sandbox's http listener is, so its bins may be called.)
    monkeypatch.setattr(guard, "sandbox_bases", lambda: (f"http://127.0.0.1:{receiver}", "https://127.0.0.1:1"))
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    target = check_url(f"http://hooks.rebind.test:{receiver}/_sandbox/webhooks/in?a=1",
                       resolver=lambda h, p: next(answers))
    outcome = post(target, b'{"x":1}', {"Content-Type": "application/json"})
    assert outcome.ok and outcome.excerpt == "ok"
    assert Receiver.seen == [{"path": "/_sandbox/webhooks/in?a=1", "host": f"hooks.rebind.test:{receiver}",
                              "body": b'{"x":1}'}]


def test_it_does_not_follow_redirects(sandbox_on, receiver):
    Receiver.answer = (302, {"Location": "http://169.254.169.254/latest"}, b"")
    outcome = post(_local(receiver), b"{}", {})
    assert outcome.status_code == 302 and not outcome.ok
    assert "not followed" in outcome.error
    assert len(Receiver.seen) == 1


def test_it_caps_what_it_reads_and_keeps(sandbox_on, receiver):
    Receiver.answer = (200, {}, b"x" * 500_000)
    outcome = post(_local(receiver), b"{}", {})
    assert outcome.ok and len(outcome.excerpt) == 1024


def test_it_gives_up_on_a_slow_receiver(sandbox_on, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    Receiver.delay = 2.5
    started = time.monotonic()
    outcome = post(_local(receiver), b"{}", {})
    assert outcome.status_code is None and "No answer within 1 s" in outcome.error
    assert time.monotonic() - started < 2


def test_it_reports_a_refused_connection(sandbox_on, receiver):
    outcome = post(_local(1), b"{}", {})
    assert outcome.status_code is None and "Could not connect" in outcome.error


def test_it_verifies_tls_against_the_real_host_name(sandbox_on, sandbox):
    # The sandbox's certificate names 127.0.0.1 and localhost, not the name the resolver gave.
    port = sandbox.info["backchannel_base"].rsplit(":", 1)[1]
    good = post(check_url(f"https://localhost:{port}/_sandbox/webhooks/tls"), b"{}", {})
    assert good.ok, good.error
    wrong = check_url(f"https://hooks.example.test:{port}/_sandbox/webhooks/tls", resolver=fixed("127.0.0.1"))
    outcome = post(wrong, b"{}", {})
    assert outcome.status_code is None and "TLS" in outcome.error
