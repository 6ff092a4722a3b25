"""`manage.py sandbox_info [--json]`: how to reach and sign in to the sandbox tenant."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from setup_portal.sandbox.info import read_runtime, sandbox_info


class Command(BaseCommand):
    help = "Print the sandbox tenant's ids, credentials and endpoints."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **options) -> None:
        data = sandbox_info()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        running = "running" if read_runtime() else "not running (showing configured ports)"
        endpoints = data.pop("endpoints")
        width = max(len(k) for k in [*data, *endpoints])
        self.stdout.write(f"Sandbox tenant {data['tenant_name']} — {running}\n")
        for key, value in data.items():
            self.stdout.write(f"  {key.ljust(width)}  {value}")
        self.stdout.write("\nEndpoints")
        for key, value in endpoints.items():
            self.stdout.write(f"  {key.ljust(width)}  {value}")
