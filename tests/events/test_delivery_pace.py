"""How fast a real worker works off queued deliveries on the default (file-system) broker."""

from __future__ import annotations

import secrets
import time

import pytest

from setup_portal.events.actions import emit_event
from setup_portal.events.models import Delivery, WebhookEndpoint
from tests.conftest import WorkerProcess
from tests.instances.factories import make_instance


@pytest.fixture
def one_worker(transactional_db, tmp_path, sandbox, clean_sandbox):
    from config.celery import app

    app.control.purge()
    worker = WorkerProcess(tmp_path / "worker.log", concurrency=1)
    worker.start()
    yield worker
    worker.stop()


def test_it_works_off_a_backlog_of_deliveries_without_waiting_a_second_for_each(alice, sandbox, one_worker):
    # The file-system broker's worker used to look for its next message once a second, so one
    # worker delivered one webhook a second however fast the receiver answered.
    url = f"{sandbox.info['backchannel_base']}/_sandbox/webhooks/p{secrets.token_hex(6)}"
    endpoint = WebhookEndpoint.objects.create(instance=make_instance(alice), enabled=True, url=url)
    started = time.monotonic()
    for n in range(12):
        emit_event(endpoint.instance, "crm.accounts.created", {"n": n}, record_key=f"accounts:r{n}")
    deadline = started + 30
    while Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() < 12:
        assert time.monotonic() < deadline, "the deliveries did not all succeed in 30 s"
        time.sleep(0.1)
    assert time.monotonic() - started < 6  # 12 webhooks; at one a second this took over 11 s
