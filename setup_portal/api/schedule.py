"""Celery beat schedule for the instance API (wired in config/celery.py). Plain data: no model imports."""

BEAT_SCHEDULE: dict[str, dict] = {
    "api-prune-call-log": {"task": "api.prune_call_log", "schedule": 3600.0},
}
