"""Celery beat schedule for the dashboard's counters (wired in config/celery.py). Plain data."""

from celery.schedules import crontab

# Every night, when little changes: compare the counters with a recount and repair drift.
BEAT_SCHEDULE: dict[str, dict] = {
    "stats-check-counters": {"task": "stats.check_counters", "schedule": crontab(hour=3, minute=17)},
}
