"""Several processes, one scrape: gunicorn's workers summed on /metrics, the Celery worker's pool
processes summed on its METRICS_PORT (prometheus-client's multiprocess mode), after real requests,
a real provisioning job and a real webhook delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from config.celery import app as celery_app
from setup_portal.events.models import Delivery
from setup_portal.events.tasks import deliver_event
from tests.azure.provisioning import authorize_setup, create_instance, sandbox_setup, wait_for_job
from tests.conftest import ROOT, WorkerProcess, subprocess_env
from tests.events.test_delivery import _configure, _emit, _endpoint
from tests.test_ops import _free_port, _wait_for_port

from .scraping import value

TOKEN = "metrics-token-for-the-tests-0123456789"


def _scrape(url: str, **headers: str) -> str:
    response = requests.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response.text


def _wait_for(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def web(tmp_path, transactional_db):
    folder = tmp_path / "web-metrics"
    folder.mkdir()
    port = _free_port()
    env = subprocess_env(PROMETHEUS_MULTIPROC_DIR=str(folder), METRICS_TOKEN=TOKEN)
    log = open(tmp_path / "web.log", "wb")
    command = [sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, proc, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


@pytest.fixture
def worker(tmp_path, transactional_db, sandbox, clean_sandbox):
    folder = tmp_path / "worker-metrics"
    folder.mkdir()
    port = _free_port()
    celery_app.control.purge()
    proc = WorkerProcess(tmp_path / "worker.log", concurrency=2,
                         env={"PROMETHEUS_MULTIPROC_DIR": str(folder), "METRICS_PORT": str(port)})
    proc.start()
    proc.metrics_url = f"http://127.0.0.1:{port}/"
    yield proc
    proc.stop()


@pytest.mark.slow
def test_one_scrape_sums_the_web_workers(web):
    for _ in range(6):
        assert requests.get(f"{web}/accounts/login/", timeout=30).status_code == 200
    text = _scrape(f"{web}/metrics", Authorization=f"Bearer {TOKEN}")
    # Whichever of the two workers answered each request, the scrape counts all six.
    assert value(text, "portal_http_requests_total", route="account_login", method="GET", status="200") == 6
    assert value(text, "portal_http_request_duration_seconds_count", route="account_login") == 6


@pytest.mark.slow
def test_the_worker_serves_tasks_jobs_and_deliveries_on_its_metrics_port(worker, alice, sandbox):
    setup = sandbox_setup(alice, sandbox, auth_type="s2s", client_id=sandbox.info["s2s_client_id"],
                          client_secret=sandbox.info["s2s_client_secret"])
    authorize_setup(setup, sandbox)
    job = wait_for_job(create_instance(setup, polling=False), worker)
    assert job.status == "succeeded"
    endpoint = _endpoint(alice, sandbox)
    _configure(sandbox, endpoint.url, secret=endpoint.secret)
    _emit(endpoint, "instance.ready")
    _wait_for(lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).exists(), "a delivery")

    def scraped_after_the_delivery() -> str | None:
        text = _scrape(worker.metrics_url)
        return text if value(text, "portal_webhook_deliveries_total", outcome="succeeded") else None

    text = _wait_for(scraped_after_the_delivery, "the delivery's series")
    assert value(text, "portal_provisioning_jobs_total", outcome="ready") == 1
    assert value(text, "portal_provisioning_job_duration_seconds_count", outcome="ready") == 1
    assert value(text, "portal_celery_tasks_total", task="instances.provision_instance", outcome="success") >= 1
    assert value(text, "portal_celery_task_duration_seconds_count", task=deliver_event.name) >= 1
    assert value(text, "portal_webhook_delivery_lag_seconds_count") == 1
    assert value(text, "portal_webhook_delivery_attempts_count", outcome="succeeded") == 1
    # Provisioning asked for the instance's token (msal's cache still held the one from Authorize).
    assert value(text, "portal_token_refreshes_total", outcome="cached") >= 1
