"""Settings for a web process with DEBUG off, so the browser sees the portal's own error pages.

With DEBUG on Django answers 404 and 500 with its debugging pages instead.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.e2e.debug_off_urls"
