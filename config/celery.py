"""The Celery application: settings come from Django's CELERY_* settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("setup_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task series, ids in log lines, the request id in task headers, METRICS_PORT (signal handlers).
import setup_portal.observability.celery_signals  # noqa: E402,F401


@app.on_after_finalize.connect
def _install_beat_schedule(sender, **kwargs) -> None:
    from setup_portal.api.schedule import BEAT_SCHEDULE as API_SCHEDULE
    from setup_portal.dashboard.schedule import BEAT_SCHEDULE as DASHBOARD_SCHEDULE
    from setup_portal.events.schedule import BEAT_SCHEDULE as EVENTS_SCHEDULE
    from setup_portal.instances.schedule import BEAT_SCHEDULE
    from setup_portal.polling.schedule import BEAT_SCHEDULE as POLLING_SCHEDULE

    sender.conf.beat_schedule = {**BEAT_SCHEDULE, **API_SCHEDULE, **EVENTS_SCHEDULE, **POLLING_SCHEDULE,
                                 **DASHBOARD_SCHEDULE, **(sender.conf.beat_schedule or {})}
