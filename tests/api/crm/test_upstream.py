"""How the instance API deals with Dataverse and Azure AD: tokens, retries, throttling, failures."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.cache import cache
from django.test import Client

from setup_portal.api.models import ApiCall
from setup_portal.audit.models import AuditEvent
from setup_portal.crypto import decrypt
from setup_portal.instances.models import Instance
from tests.api.conftest import Caller, issue_token
from tests.instances.factories import sandbox_oauth_instance, sandbox_s2s_instance

URL = "/api/v1/crm/accounts"
COUNTING = 100_000


class TokenRequests:
    """Counts requests to the sandbox's token endpoint: a fault that only adds 1 ms, counting down."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        sandbox.faults(endpoint="token", latency_ms=1, times=COUNTING)

    @property
    def count(self) -> int:
        for fault in self.sandbox.admin("GET", "faults")["faults"]:
            if fault["endpoint"] == "token" and fault["latency_ms"] == 1 and fault["status"] is None:
                return COUNTING - fault["times"]
        return COUNTING


def _last_call(instance) -> ApiCall:
    return ApiCall.objects.filter(instance=instance).latest("id")


def test_it_keeps_the_access_token_between_calls(app, clean_sandbox):
    tokens = TokenRequests(clean_sandbox)
    for _ in range(3):
        assert app.get(URL, {"pageSize": "1"}).status_code == 200
    assert tokens.count == 1
    stored = cache.get(f"crm:access-token:{app.instance.pk}")
    assert stored and "eyJ" not in stored  # encrypted in the shared cache
    assert json.loads(decrypt(stored))["token"].startswith("eyJ")


def test_it_refreshes_once_after_dataverse_refuses_the_token(app, clean_sandbox):
    assert app.get(URL, {"pageSize": "1"}).status_code == 200
    tokens = TokenRequests(clean_sandbox)
    clean_sandbox.faults(endpoint="webapi", status=401, times=1)
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 200
    assert tokens.count == 1


def test_it_retries_a_get_on_503_and_dropped_connections(app, clean_sandbox):
    clean_sandbox.faults(endpoint="webapi", status=503, retry_after=0, times=1)
    clean_sandbox.faults(endpoint="webapi", reset_connection=True, times=1)
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 200
    assert _last_call(app.instance).retries == 2


def test_it_retries_a_get_that_timed_out_within_the_budget(app, clean_sandbox, settings):
    settings.OUTBOUND_TIMEOUT_SECONDS = 1
    settings.CRM_RETRY_BUDGET_SECONDS = 4
    clean_sandbox.faults(endpoint="webapi", latency_ms=1500, times=1)
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 200
    assert _last_call(app.instance).retries == 1


def test_it_answers_504_when_no_try_fits_in_the_budget(app, clean_sandbox, settings):
    settings.OUTBOUND_TIMEOUT_SECONDS = 1
    settings.CRM_RETRY_BUDGET_SECONDS = 1  # the first try spends it: no retry
    clean_sandbox.faults(endpoint="webapi", latency_ms=1500, times=2)
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 504 and answer.json()["code"] == "timeout"
    assert _last_call(app.instance).retries == 0


def test_it_passes_a_429_on_with_retry_after_when_the_budget_is_spent(app, clean_sandbox, settings):
    settings.CRM_RETRY_BUDGET_SECONDS = 1
    clean_sandbox.faults(endpoint="webapi", status=429, retry_after=30, times=3)
    started = time.monotonic()
    answer = app.get(URL, {"pageSize": "1"})
    assert time.monotonic() - started < 1
    assert answer.status_code == 429 and answer["Retry-After"] == "30"
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["code"] == "0x80072322" and answer.json()["fix"]


def test_it_retries_a_429_within_the_budget(app, clean_sandbox):
    clean_sandbox.faults(endpoint="webapi", status=429, retry_after=1, times=1)
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 200
    assert _last_call(app.instance).retries == 1


def test_it_passes_dataverse_service_protection_on(app, clean_sandbox):
    clean_sandbox.admin("POST", "dataverse/limits", {"requests": 2, "window_seconds": 60})
    try:
        assert app.get(URL, {"pageSize": "1"}).status_code == 200
        assert app.get(URL, {"pageSize": "1"}).status_code == 200
        answer = app.get(URL, {"pageSize": "1"})
        assert answer.status_code == 429 and int(answer["Retry-After"]) >= 1
        assert answer.json()["code"] == "0x80072322"
    finally:
        clean_sandbox.admin("DELETE", "dataverse/limits")


def test_it_never_retries_a_write(app, clean_sandbox):
    clean_sandbox.faults(endpoint="webapi", status=503, retry_after=0, times=1)
    answer = app.post(URL, {"name": "Not twice"})
    assert answer.status_code == 503 and answer["Content-Type"] == "application/problem+json"
    assert _last_call(app.instance).retries == 0
    assert app.get(URL, {"where": "name = 'Not twice'"}).json()["records"] == []


def test_it_lets_an_idempotent_post_run_again_after_a_failure(app, clean_sandbox):
    clean_sandbox.faults(endpoint="webapi", reset_connection=True, times=1)
    failed = app.post(URL, {"name": "Second chance"}, **{"Idempotency-Key": "k-1"})
    assert failed.status_code == 502 and failed.json()["code"] == "connection_error"
    created = app.post(URL, {"name": "Second chance"}, **{"Idempotency-Key": "k-1"})
    assert created.status_code == 201
    app.delete(f"{URL}/{created.json()['id']}")


def test_it_answers_503_when_azure_ad_is_unavailable(app, clean_sandbox):
    clean_sandbox.faults(endpoint="token", status=503, retry_after=5)
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 503 and answer["Retry-After"]
    assert answer.json()["code"]


def test_it_marks_the_instance_for_reauthentication_on_invalid_grant(alice, sandbox, clean_sandbox):
    instance = sandbox_oauth_instance(alice, sandbox, filter_nulls=False)
    app = Caller(instance, issue_token(instance), Client())
    assert app.get(URL, {"pageSize": "1"}).status_code == 200
    sandbox.expire_refresh_tokens(client_id=sandbox.info["client_id"])
    sandbox.faults(endpoint="webapi", status=401, times=1)
    answer = app.get(URL, {"pageSize": "1"})
    assert answer.status_code == 409, answer.content
    assert answer.json()["code"] == "AADSTS700082" and answer.json()["fix"]
    instance.refresh_from_db()
    assert instance.status == Instance.Status.NEEDS_REAUTH and instance.status_code == "AADSTS700082"
    assert AuditEvent.objects.filter(verb="instance.status_changed").exists()
    assert app.get(URL, {"pageSize": "1"}).status_code == 409


@pytest.mark.django_db(transaction=True)
def test_it_refreshes_once_for_fifty_concurrent_calls(alice, sandbox, clean_sandbox, live_server):
    instance = sandbox_s2s_instance(alice, sandbox.info)
    token = issue_token(instance)
    tokens = TokenRequests(sandbox)

    def call(_):
        return requests.get(f"{live_server.url}{URL}?pageSize=1", headers={"Authorization": f"Bearer {token}"},
                            timeout=60).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(call, range(50)))
    assert statuses == [200] * 50
    assert tokens.count == 1
    # Each call is recorded once its answer has been sent, so the last rows may lag a moment.
    deadline = time.monotonic() + 10
    while ApiCall.objects.filter(instance=instance).count() < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ApiCall.objects.filter(instance=instance).count() == 50


@pytest.mark.parametrize("content, expected", [
    (b'{"value": [{"name": "Caf\xc3\xa9"}]}', {"value": [{"name": "Café"}]}),
    ('{"value": [{"name": "Café"}]}'.encode("utf-16"), {"value": [{"name": "Café"}]}),  # not UTF-8
    (b'{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}),  # beyond 64 bits
])
def test_it_reads_any_json_dataverse_may_send(content, expected):
    from setup_portal.api.crm.gateway import json_of

    response = requests.Response()
    response._content = content
    response.headers["Content-Type"] = "application/json"
    assert json_of(response) == expected


def test_it_answers_502_for_an_answer_that_is_not_json():
    from setup_portal.api.crm.gateway import json_of
    from setup_portal.api.problems import Problem

    response = requests.Response()
    response._content = b"<html>"
    with pytest.raises(Problem) as raised:
        json_of(response)
    assert raised.value.status_code == 502
