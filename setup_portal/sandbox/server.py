"""The sandbox's two listeners: plain HTTP for browser pages, HTTPS for the back channel.

Standard library only (ThreadingHTTPServer + wsgiref) running Django's WSGI handler with
the sandbox URLconf. Keep-alive is supported so clients reuse TLS connections, which
matters for the provisioning benchmark. Injected faults are applied here, before
Django, because a connection reset needs the raw socket.
"""

from __future__ import annotations

import io
import json
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler

from .state import Fault, Store

MAX_BODY = 1024 * 1024
LISTENER_KEY = "sandbox.listener"


def endpoints_of(path: str) -> set[str]:
    """The fault-injection names a request path answers to."""
    path = path.split("?", 1)[0]
    if path.startswith("/_sandbox/"):
        return set()
    names = {"*"}
    if path.endswith("/oauth2/v2.0/token"):
        names.add("token")
    elif path.endswith(("/oauth2/v2.0/authorize", "/login", "/consent", "/v2.0/adminconsent")):
        names.add("authorize")
    elif path.endswith("/.well-known/openid-configuration"):
        names.add("discovery")
    elif path.endswith("/discovery/v2.0/keys"):
        names.add("keys")
    elif path.startswith("/dataverse/"):
        names.add("webapi")
        if "/WhoAmI" in path:
            names.add("whoami")
    return names


def _fault_body(fault: Fault, endpoints: set[str]) -> bytes:
    if "webapi" in endpoints:
        message = ("Number of requests exceeded the limit of 6000 over time window of 300 seconds."
                   if fault.status == 429 else "The service is temporarily unavailable (sandbox fault).")
        return json.dumps({"error": {"code": "0x80072322" if fault.status == 429 else "0x80040216",
                                     "message": message}}).encode()
    error = "temporarily_unavailable" if fault.status in (429, 503) else "server_error"
    return json.dumps({"error": error, "error_description": "AADSTS90033: A transient error has occurred. "
                       "Please try again. (sandbox fault)", "error_codes": [90033]}).encode()


class SandboxRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections give their thread back after this
    # Buffered writes: status line, headers and body leave in one segment instead of
    # several small ones that Nagle + delayed ACK would hold back ~40 ms each.
    wbufsize = 64 * 1024
    server: SandboxServer

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        body = self._read_body()
        if body is None:
            return
        endpoints = endpoints_of(self.path)
        fault = self.server.store.take_fault(endpoints) if endpoints else None
        if fault and self._apply_fault(fault, endpoints):
            return
        environ = self.get_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        environ[LISTENER_KEY] = self.server.scheme
        if self.server.scheme == "https":
            environ["HTTPS"] = "on"
        handler = ServerHandler(io.BytesIO(body), self.wfile, self.get_stderr(), environ, multithread=True)
        handler.request_handler = self
        handler.http_version = "1.1"
        handler.run(self.server.get_app())
        self.wfile.flush()

    def _read_body(self) -> bytes | None:
        """Read the whole body up front so keep-alive never sees leftovers of a request."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.send_error(411, "Send a Content-Length")
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.send_error(413)
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _apply_fault(self, fault: Fault, endpoints: set[str]) -> bool:
        """Delay, then reset or answer with an error; True when the request is handled."""
        if fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        if fault.reset_connection:
            # SO_LINGER 0 makes close() send RST instead of FIN: the client sees a reset.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
            self.close_connection = True
            self.log_message('"%s" fault: connection reset', self.requestline)
            return True
        if fault.status is None:
            return False
        payload = _fault_body(fault, endpoints)
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if fault.retry_after is not None:
            self.send_header("Retry-After", str(fault.retry_after))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        return True

    def log_message(self, format: str, *args) -> None:
        if self.server.quiet:
            return
        sys.stdout.write(f"[{self.server.scheme}] {self.address_string()} {format % args}\n")


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: Callable, store: Store, *,
                 ssl_context: ssl.SSLContext | None = None, quiet: bool = False):
        self.app = app
        self.store = store
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context else "http"
        self.quiet = quiet
        super().__init__(address, SandboxRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup that can stall on offline hosts.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.base_environ = {"SERVER_NAME": str(self.server_name), "GATEWAY_INTERFACE": "CGI/1.1",
                             "SERVER_PORT": str(self.server_port), "REMOTE_HOST": "", "CONTENT_LENGTH": "",
                             "SCRIPT_NAME": ""}

    def get_request(self):
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address

    def get_app(self) -> Callable:
        return self.app

    def finish_request(self, request, client_address) -> None:
        """TLS handshake in the connection's own thread, never in the accept loop."""
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def buffered(app: Callable) -> Callable:
    """Collect the (small) response body so every response carries Content-Length,
    which HTTP/1.1 keep-alive needs and Django does not add without middleware."""

    def wrapped(environ, start_response):
        captured: list = []

        def capture(status, headers, exc_info=None):
            captured[:] = [status, headers]
            return lambda data: None

        result = app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = captured
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    return wrapped


def tls_context(cert_path, key_path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    return context


def serve(servers: list[SandboxServer]) -> list[threading.Thread]:
    threads = []
    for server in servers:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=f"sandbox-{server.scheme}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
