"""The portal's Celery app for a test's `celery beat` process: the real schedule, with
`events.plan_polls` every TEST_PLAN_POLLS_SECONDS instead of every minute."""

import os

from config.celery import app


@app.on_after_finalize.connect
def _plan_polls_often(sender, **kwargs) -> None:
    # Connected after config.celery's own receiver, so the portal's schedule is already installed.
    entry = sender.conf.beat_schedule["events-plan-polls"]
    sender.conf.beat_schedule = {**sender.conf.beat_schedule, "events-plan-polls": {
        **entry, "schedule": float(os.environ["TEST_PLAN_POLLS_SECONDS"])}}
