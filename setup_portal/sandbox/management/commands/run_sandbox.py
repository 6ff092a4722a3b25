"""`manage.py run_sandbox`: serve the sandbox tenant (browser pages over HTTP, back channel over HTTPS)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError

from setup_portal.sandbox import info, pki, state
from setup_portal.sandbox.data.limits import Limits
from setup_portal.sandbox.directory import SeedError
from setup_portal.sandbox.server import SandboxServer, buffered, serve, tls_context


class Command(BaseCommand):
    help = "Start the sandbox tenant: a local Azure AD and Dataverse stand-in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.SANDBOX_HOST)
        parser.add_argument("--http-port", type=int, default=settings.SANDBOX_HTTP_PORT,
                            help="browser pages (0 = any free port)")
        parser.add_argument("--https-port", type=int, default=settings.SANDBOX_HTTPS_PORT,
                            help="back channel: discovery, token, keys, Web API (0 = any free port)")
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args, host: str, http_port: int, https_port: int, quiet: bool, **options) -> None:
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The sandbox tenant is disabled (SANDBOX_ENABLED is off).")
        sandbox_dir = Path(settings.SANDBOX_DIR)
        material = pki.ensure_material(sandbox_dir)
        try:
            limits = Limits(requests=settings.SANDBOX_DATAVERSE_REQUEST_LIMIT,
                            execution_ms=settings.SANDBOX_DATAVERSE_EXECUTION_MS_LIMIT,
                            concurrent=settings.SANDBOX_DATAVERSE_CONCURRENCY_LIMIT,
                            window_seconds=settings.SANDBOX_DATAVERSE_LIMIT_WINDOW_SECONDS)
            store = state.Store(Path(settings.SANDBOX_SEED_FILE), material, sandbox_dir / "dataverse", limits)
            for spec in json.loads(os.environ.get("SANDBOX_FAULTS") or "[]"):
                store.add_fault(state.Fault.from_spec(spec))
        except SeedError as exc:
            raise CommandError(str(exc)) from exc
        except (ValueError, TypeError) as exc:
            raise CommandError(f"SANDBOX_FAULTS is not valid: {exc}") from exc
        state.install(store)

        # This process serves only the sandbox: its own URLconf, none of the portal's middleware.
        settings.ROOT_URLCONF = "setup_portal.sandbox.urls"
        settings.MIDDLEWARE = []
        # Bulk writes ($batch of 1,000 requests, CreateMultiple) exceed Django's 2.5 MB default for a
        # body; Dataverse takes payloads of many megabytes.
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
        app = buffered(WSGIHandler())
        try:
            browser = SandboxServer((host, http_port), app, store, quiet=quiet)
            backchannel = SandboxServer((host, https_port), app, store, quiet=quiet,
                                        ssl_context=tls_context(material.cert_path, material.key_path))
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host} (ports {http_port}/{https_port}): {exc}") from exc

        settings.SANDBOX_HTTP_PORT = browser.server_port
        settings.SANDBOX_HTTPS_PORT = backchannel.server_port
        url_host = info.url_host()
        browser_base = f"http://{url_host}:{browser.server_port}"
        backchannel_base = f"https://{url_host}:{backchannel.server_port}"
        info.set_local_bases(browser_base, backchannel_base)
        runtime = {
            "pid": os.getpid(), "host": host, "http_port": browser.server_port,
            "https_port": backchannel.server_port, "browser_base": browser_base,
            "backchannel_base": backchannel_base, "authority": f"{backchannel_base}/{store.directory.tenant.id}",
            "ca_cert_path": str(material.ca_path),
        }
        runtime_path = info.runtime_path()
        tmp = runtime_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(runtime, indent=2))
        os.replace(tmp, runtime_path)

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: stop.set())
        serve([browser, backchannel])
        self.stdout.write(
            f"Sandbox tenant {store.directory.tenant.name} ({store.directory.tenant.id}) is running\n"
            f"  Browser pages: {browser_base}/\n"
            f"  Back channel:  {backchannel_base}/  (CA certificate: {material.ca_path})\n"
            f"  Authority:     {runtime['authority']}\n"
            f"  Runtime file:  {runtime_path}\n"
            f"  Details:       python manage.py sandbox_info\n"
        )
        self.stdout.flush()
        # Never a bare wait(): the kernel may hand a signal to any of the server's threads, and
        # Python runs its handler only when the main thread wakes up. A blocked main thread
        # then sleeps through SIGTERM and SIGINT while the process keeps its ports.
        while not stop.wait(0.2):
            pass
        for server in (browser, backchannel):
            server.shutdown()
            server.server_close()
        try:
            if json.loads(runtime_path.read_text()).get("pid") == os.getpid():
                runtime_path.unlink()
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        self.stdout.write("Sandbox stopped.\n")
        self.stdout.flush()
        sys.stderr.flush()
        # Tearing the interpreter down collects every seed row and cached object: seconds on a
        # busy machine, during which the process lingers. Everything is written and closed.
        os._exit(0)
