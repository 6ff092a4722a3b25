"""Log lines as JSON (LOG_FORMAT=json) carrying the ids that find one request everywhere: its
X-Request-ID, echoed on the answer, in problem details and the call log, and carried into the
Celery task it queues; the task's, job's and instance's ids in the worker's lines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from config.celery import app as celery_app
from setup_portal.api.models import ApiCall
from setup_portal.observability.logs import ContextFilter, JsonFormatter
from tests.api.conftest import Caller, issue_token
from tests.azure.provisioning import authorize_setup, create_instance, sandbox_setup, wait_for_job, wait_until
from tests.conftest import ROOT, WorkerProcess
from tests.instances.factories import sandbox_s2s_instance

REQUEST_ID = "3f2a9c1e-7b4d-4e8a-9f60-1c2d3e4f5a6b"


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def json_log():
    """The root logger's lines as LOG_FORMAT=json writes them (the same formatter and filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


@pytest.fixture
def json_worker(tmp_path, transactional_db, sandbox, clean_sandbox):
    celery_app.control.purge()
    worker = WorkerProcess(tmp_path / "worker.log", env={"LOG_FORMAT": "json"})
    worker.start()
    yield worker
    worker.stop()


def test_a_page_request_keeps_a_sane_request_id_and_logs_it_with_the_user(json_log, alice_client, alice):
    response = alice_client.get(f"/instances/{uuid.uuid4()}/", HTTP_X_REQUEST_ID=REQUEST_ID)
    assert response.status_code == 404 and response["X-Request-ID"] == REQUEST_ID
    line = next(entry for entry in _json_lines(json_log.getvalue()) if entry.get("request_id") == REQUEST_ID)
    assert line["level"] == "WARNING" and line["logger"] == "django.request"
    assert line["user_id"] == str(alice.pk) and line["timestamp"].endswith("+00:00")


def _a_404_logged_by_the_settings(tmp_path, log_format: str | None) -> str:
    """What a process started with config.settings (the LOGGING that `make run`, gunicorn and Celery
    load; DEBUG on, as `make run` has it) writes to stderr for a 404 with our request id; LOG_FORMAT
    as given, left out when None. Django's line comes once (its own DEBUG console handler is off)."""
    script = ("from django.test import Client\n"
              f"print(Client().get('/no/such/page/', HTTP_X_REQUEST_ID='{REQUEST_ID}').status_code)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "LOG_FORMAT", "DEBUG")}
    env.update(VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
               CELERY_BROKER_URL="filesystem://", CELERY_BROKER_DIR=str(tmp_path / "broker"), CACHE_URL="db://")
    if log_format is not None:
        env["LOG_FORMAT"] = log_format
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1:] == ["404"], result.stderr[-2000:]
    return result.stderr


def test_log_format_json_makes_the_settings_write_json_lines_with_the_request_id(tmp_path):
    [line] = [json.loads(text) for text in _a_404_logged_by_the_settings(tmp_path, "json").splitlines()
              if "Not Found" in text]
    assert line["request_id"] == REQUEST_ID and line["logger"] == "django.request" and line["level"] == "WARNING"
    assert line["message"] == "Not Found: /no/such/page/" and line["timestamp"].endswith("+00:00")


@pytest.mark.parametrize("log_format", [None, ""], ids=["unset", "empty"])
def test_lines_are_human_readable_by_default(tmp_path, log_format):
    [line] = [text for text in _a_404_logged_by_the_settings(tmp_path, log_format).splitlines() if "Not Found" in text]
    assert not line.startswith("{")
    assert line.endswith(f"WARNING django.request Not Found: /no/such/page/ [request_id={REQUEST_ID}]")


@pytest.mark.parametrize("given", ["", "short", "x" * 65, "a b c d e f g h", "id\nInjected: 1", "<script>1</script>"])
def test_an_odd_request_id_is_replaced_by_a_new_one(given, client, db):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] != given and len(response["X-Request-ID"]) == 32


def test_the_instance_api_puts_the_request_id_in_problems_and_the_call_log(alice, sandbox, clean_sandbox, settings):
    settings.CRM_RATE_LIMIT = "off"
    inst = sandbox_s2s_instance(alice, sandbox.info, filter_nulls=False)
    app = Caller(inst, issue_token(inst), Client())
    problem = app.get("/api/v1/crm/nosuchtables", X_Request_ID=REQUEST_ID)
    assert problem.status_code == 404
    assert problem.json()["request_id"] == REQUEST_ID and problem.json()["instance"] == "/api/v1/crm/nosuchtables"
    assert app.get("/api/v1/crm/accounts").status_code == 200
    rows = dict(ApiCall.objects.filter(instance=inst).values_list("status", "portal_request_id"))
    assert rows[404] == REQUEST_ID and len(rows[200]) == 32


def test_the_management_api_puts_it_in_problems_too(alice_client):
    problem = alice_client.get("/api/v1/instances/not-an-instance", HTTP_X_REQUEST_ID=REQUEST_ID)
    assert problem.status_code == 404 and problem.json()["request_id"] == REQUEST_ID


@pytest.mark.slow
def test_the_worker_logs_json_with_the_request_task_job_and_instance_ids(json_worker, alice, sandbox):
    inst = sandbox_s2s_instance(alice, sandbox.info)
    client = Client()
    client.force_login(alice)
    url = reverse("instances:test_connection", args=[inst.pk])
    client.post(url, {"confirmed": "yes"}, HTTP_X_REQUEST_ID=REQUEST_ID)

    def health_check_line() -> dict | None:
        return next((e for e in _json_lines(json_worker.log()) if e.get("request_id") == REQUEST_ID
                     and "succeeded" in e["message"]), None)

    wait_until(health_check_line, json_worker, what="the health check's log line")
    line = health_check_line()
    assert "instances.check_instance_health" in line["message"] and line["task_id"] in line["message"]

    setup = sandbox_setup(alice, sandbox, auth_type="s2s", client_id=sandbox.info["s2s_client_id"],
                          client_secret=sandbox.info["s2s_client_secret"])
    authorize_setup(setup, sandbox)
    job = wait_for_job(create_instance(setup, polling=False), json_worker)
    assert job.status == "succeeded"

    def job_line() -> dict | None:
        return next((e for e in _json_lines(json_worker.log()) if e.get("job_id") == str(job.pk)
                     and "succeeded" in e["message"]), None)

    wait_until(job_line, json_worker, what="the job's log line")  # the row is written before the line
    done, entries = job_line(), _json_lines(json_worker.log())
    assert done["instance_id"] == str(job.instance_id) and done["task_id"] and done["logger"].startswith("celery")
    assert not any(sandbox.info["s2s_client_secret"] in json.dumps(e) for e in entries)
