"""`python manage.py check_counters [--repair]`: recount the dashboard's counters from the instances.

Prints every counter that differs from the recount; exits 1 when there is drift and --repair
was not given. With --repair the counters are replaced by the recount (beat does this nightly).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from setup_portal.instances.models import Instance
from setup_portal.stats import counters

SHOWN = 50


class Command(BaseCommand):
    help = "Compare the dashboard's per-team counters with a recount of the instances; --repair fixes them."

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="Replace drifted counters by the recount")

    def handle(self, *args, repair: bool, **options):
        drift = counters.check(Instance.objects.all(), repair=repair)
        if not drift:
            self.stdout.write(self.style.SUCCESS("Counters match a recount of the instances."))
            return
        for item in drift[:SHOWN]:
            self.stdout.write(str(item))
        if len(drift) > SHOWN:
            self.stdout.write(f"… and {len(drift) - SHOWN} more.")
        if repair:
            self.stdout.write(self.style.WARNING(f"{len(drift)} counter(s) had drifted; repaired from the recount."))
            return
        raise CommandError(f"{len(drift)} counter(s) differ from a recount; run with --repair to fix them.")
