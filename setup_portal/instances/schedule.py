"""Celery beat schedule for instance upkeep (wired in config/celery.py). Plain data: no model imports."""

BEAT_SCHEDULE: dict[str, dict] = {}
