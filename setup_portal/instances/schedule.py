"""Celery beat schedule for instance upkeep (wired in config/celery.py). Plain data: no model imports."""

BEAT_SCHEDULE: dict[str, dict] = {}

# Keep-alive: refresh tokens ahead of expiry, check health, remind before secrets expire.
# Each planner only enqueues batch tasks, so a slow run never overlaps itself in beat.
BEAT_SCHEDULE.update({
    "instances-refresh-tokens": {"task": "instances.plan_token_refreshes", "schedule": 300.0},
    "instances-health-checks": {"task": "instances.plan_health_checks", "schedule": 900.0},
    "instances-secret-reminders": {"task": "instances.plan_secret_reminders", "schedule": 3600.0},
})

# Provisioning: hand jobs whose worker died (lease expired) to another worker.
BEAT_SCHEDULE.update({
    "instances-sweep-stale-jobs": {"task": "instances.sweep_stale_jobs", "schedule": 30.0},
})

# A new instance token waits a day at most for its issuer to copy it: erase the ones past their day.
BEAT_SCHEDULE.update({
    "instances-erase-expired-token-reveals": {"task": "instances.erase_expired_token_reveals", "schedule": 600.0},
})
