import os

import django
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)
# Tracing (when OTEL_EXPORTER_OTLP_ENDPOINT is set) adds its middleware before the handler loads them.
from setup_portal.observability import tracing  # noqa: E402

tracing.configure()
application = get_wsgi_application()
