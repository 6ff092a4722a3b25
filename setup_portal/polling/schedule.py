"""Celery beat schedule for change polling (wired in config/celery.py). Plain data: no model imports."""

BEAT_SCHEDULE: dict[str, dict] = {}

# Hand out due change polls (each instance keeps its own interval; see polling/poller.py).
BEAT_SCHEDULE.update({
    "events-plan-polls": {"task": "events.plan_polls", "schedule": 60.0},
})
