"""A real `celery beat` and a real worker: beat hands out due polls, the worker polls the
sandbox's Dataverse and delivers the change it found as a signed webhook to a sandbox bin."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from setup_portal.events.models import Delivery, Event, PollState, WebhookEndpoint
from tests.conftest import ROOT, WorkerProcess, subprocess_env
from tests.instances.factories import sandbox_s2s_instance

from .test_delivery import _bin, _configure, _wait

pytestmark = pytest.mark.slow


@pytest.fixture
def beat(transactional_db, tmp_path):
    """`celery beat` with the portal's schedule, planning polls every second (tests/events/beat_app.py)."""
    log_path = tmp_path / "beat.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.events.beat_app", "beat", "--loglevel=DEBUG",
         f"--schedule={tmp_path / 'beat-schedule'}", f"--pidfile={tmp_path / 'beat.pid'}"],
        cwd=ROOT, env=subprocess_env(TEST_PLAN_POLLS_SECONDS="1"), stdout=open(log_path, "ab"),
        stderr=subprocess.STDOUT, start_new_session=True)
    yield lambda: log_path.read_text(errors="replace")
    os.killpg(proc.pid, 15)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(5)


@pytest.fixture
def worker(transactional_db, tmp_path, clean_sandbox):
    from config.celery import app

    app.control.purge()
    process = WorkerProcess(tmp_path / "worker.log", concurrency=2)
    process.start()
    yield process
    process.stop()


def test_beat_hands_out_due_polls_and_the_change_arrives_as_a_signed_webhook(alice, sandbox, worker, beat):
    inst = sandbox_s2s_instance(alice, sandbox.info, polling_enabled=True, polling_resources=["accounts"],
                                polling_interval_minutes=60)
    url = f"{sandbox.info['backchannel_base']}/_sandbox/webhooks/b{secrets.token_hex(6)}"
    endpoint = WebhookEndpoint.objects.create(instance=inst, enabled=True, url=url)
    _configure(sandbox, url, secret=endpoint.secret)

    # Beat's first round finds the new instance due: the worker takes the baseline (no events).
    state = _wait(lambda: PollState.objects.filter(instance=inst, baseline_at__isnull=False).first(),
                  timeout=30, what=f"the baseline poll\n{beat()[-2000:]}\n{worker.log()[-2000:]}")
    assert not Event.objects.filter(instance=inst, type__startswith="crm.").exists()
    assert state.next_poll_at > timezone.now()  # next due in an hour: beat leaves it alone until then

    created = sandbox.admin("POST", "dataverse/contoso/changes", {"accounts": {"create": 1}, "seed": 7})["changes"]
    # The hour passes: the instance is due again, and beat (not this test) hands the poll out.
    PollState.objects.filter(pk=state.pk).update(next_poll_at=timezone.now())

    received = _wait(lambda: _bin(sandbox, url)["deliveries"], timeout=30,
                     what=f"the webhook\n{beat()[-2000:]}\n{worker.log()[-2000:]}")
    item = received[0]
    headers = {"webhook-id": item["webhook_id"], "webhook-timestamp": item["timestamp"],
               "webhook-signature": item["signature"]}
    payload = Webhook(endpoint.secret).verify(item["body"], headers)  # as the customer's receiver would
    assert item["verified"] is True
    assert payload["type"] == "crm.accounts.created"
    assert payload["data"]["id"] == created[0]["id"] == json.loads(item["body"])["data"]["record"]["id"]
    event = Event.objects.get(instance=inst, type="crm.accounts.created")
    assert item["webhook_id"] == event.pk
    _wait(lambda: Delivery.objects.filter(event=event, status=Delivery.Status.SUCCEEDED).exists(),
          what="the delivery recorded as succeeded")
    assert beat().count("Sending due task events-plan-polls") >= 2
