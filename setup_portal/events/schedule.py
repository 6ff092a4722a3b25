"""Celery beat schedule for events (wired in config/celery.py). Plain data: no model imports."""

BEAT_SCHEDULE: dict[str, dict] = {}

# Webhook delivery: retries too far off for a countdown, deliveries whose worker died, and
# endpoints failing for too long. Short retries are queued with a countdown by the worker itself.
BEAT_SCHEDULE.update({
    "events-retry-due-deliveries": {"task": "events.retry_due_deliveries", "schedule": 15.0},
})

# Notifications: what waited for a person's hourly e-mail budget goes out as one digest per kind.
BEAT_SCHEDULE.update({
    "events-notification-digests": {"task": "events.send_notification_digests", "schedule": 300.0},
})
