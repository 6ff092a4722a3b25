"""The call log's background writer: under gunicorn every answered call gets its row, while serving
and when the workers are stopped right after answering; a batch the database refuses loses only
the row it cannot hold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from setup_portal.api.crm import calllog
from setup_portal.api.models import ApiCall
from tests.api.conftest import issue_token
from tests.api.rest.test_schemathesis import _free_port, _wait_serving
from tests.conftest import ROOT, _make_user, private_broker_env, subprocess_env
from tests.instances.factories import sandbox_s2s_instance


def _rows_reach(instance, count: int, seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    while (rows := ApiCall.objects.filter(instance=instance).count()) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return rows


def _calls(base_url: str, token: str, count: int) -> list[int]:
    def call(_):
        return requests.get(f"{base_url}/api/v1/crm/accounts", params={"pageSize": "1"},
                            headers={"Authorization": f"Bearer {token}"}, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(call, range(count)))


@pytest.mark.slow
def test_it_loses_no_row_under_gunicorn_nor_when_stopped(sandbox, transactional_db, django_user_model, tmp_path):
    instance = sandbox_s2s_instance(_make_user(django_user_model, "alice", "admin"), sandbox.info)
    token = issue_token(instance)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = subprocess_env(CRM_CALL_LOG_WRITER="background", CRM_RATE_LIMIT="off",
                         **private_broker_env(tmp_path / "broker"))
    log = tmp_path / "web.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread", "--threads", "4"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_serving(f"{base_url}/healthz", log)
        assert set(_calls(base_url, token, 40)) == {200}
        assert _rows_reach(instance, 40) == 40  # written while serving, not only at exit
        assert set(_calls(base_url, token, 40)) == {200}
    finally:
        os.killpg(web.pid, signal.SIGTERM)  # at once: rows may still be queued
        web.wait(60)
    assert ApiCall.objects.filter(instance=instance).count() == 80, log.read_text()[-3000:]
    assert set(ApiCall.objects.filter(instance=instance).values_list("status", "resource")) == {(200, "accounts")}


def test_it_writes_what_it_can_of_a_refused_batch(sandbox, transactional_db, django_user_model):
    instance = sandbox_s2s_instance(_make_user(django_user_model, "alice", "admin"), sandbox.info)
    fields = {"method": "GET", "resource": "accounts", "status": 200, "latency_ms": 3, "caller": None, "trace": None}
    rows = [calllog._row(instance.pk, **fields), calllog._row(uuid.uuid4(), **fields),
            calllog._row(instance.pk, **fields)]
    calllog._Writer._write(rows)  # the second row's instance does not exist
    assert ApiCall.objects.filter(instance=instance).count() == 2
    assert ApiCall.objects.count() == 2
