"""Settings of bench/dashboard_scale.py: production-like (DEBUG off) plus Django's admin site, which
the portal does not install, so the dashboard can be measured beside the admin changelist of the
same Instance model (bench/dashboard_admin.py)."""

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.admin"]
ROOT_URLCONF = "bench.dashboard_urls"
