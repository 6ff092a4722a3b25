import uuid
from pathlib import Path

from django.conf import settings

from setup_portal.accounts.tasks import ping


def test_a_real_worker_process_runs_tasks_through_the_broker(celery_worker):
    nonce = uuid.uuid4().hex
    ping.delay(nonce)
    path = Path(settings.VAR_DIR) / "ping" / nonce
    import time

    deadline = time.monotonic() + 20
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.read_text() == "pong", celery_worker.log()[-2000:]
