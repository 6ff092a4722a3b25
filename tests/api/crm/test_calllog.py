"""The call log: what is kept of each call, bodies only while tracing, redacted, and pruned by beat."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from setup_portal.api.models import ApiCall, IdempotentResponse
from setup_portal.api.tasks import prune_call_log
from setup_portal.instances.models import Instance
from setup_portal.redaction import REDACTED, redact


def test_it_keeps_no_bodies_unless_tracing(app, clean_sandbox):
    app.post("/api/v1/crm/accounts", {"name": "Quiet Co"})
    call = ApiCall.objects.filter(instance=app.instance).latest("id")
    assert call.trace is None and call.status == 201
    ApiCall.objects.filter(instance=app.instance).delete()
    Instance.objects.filter(pk=app.instance.pk).update(trace_until=timezone.now() - dt.timedelta(seconds=1))
    app.get("/api/v1/crm/accounts", {"pageSize": "1"})
    assert ApiCall.objects.get(instance=app.instance).trace is None


def test_it_keeps_dataverses_request_id(app, clean_sandbox):
    assert app.get("/api/v1/crm/accounts", {"pageSize": "1"}).status_code == 200
    assert app.get(f"/api/v1/crm/accounts/{uuid.uuid4()}").status_code == 404
    ok, missing = ApiCall.objects.filter(instance=app.instance).order_by("id")
    assert uuid.UUID(ok.request_id) and uuid.UUID(missing.request_id) and ok.request_id != missing.request_id


def test_it_traces_bodies_with_secrets_redacted(app, clean_sandbox):
    Instance.objects.filter(pk=app.instance.pk).update(trace_until=timezone.now() + dt.timedelta(hours=1))
    body = {"name": "Traced Co", "description": f"Bearer {app.token} and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"}
    created = app.post("/api/v1/crm/raw/accounts", {**body, "address1_line1": app.token},
                       Prefer="return=representation", **{"Idempotency-Key": "secret-ish"})
    assert created.status_code == 201
    call = ApiCall.objects.filter(instance=app.instance).latest("id")
    text = str(call.trace)
    assert app.token not in text and "eyJhbGci" not in text
    assert call.trace["request"]["body"]["name"] == "Traced Co"
    assert call.trace["response"]["status"] == 201 and call.trace["response"]["body"]["name"] == "Traced Co"
    assert "Authorization" not in call.trace["request"]["headers"]
    app.delete(f"/api/v1/crm/raw/accounts({created.json()['accountid']})")


def test_it_redacts_secret_keys_and_token_values():
    assert redact({"client_secret": "x", "nested": [{"Password": "p", "ok": "fine"}], "access_token": 1,
                   "text": "dci_abcdefghijkl"}) == {"client_secret": REDACTED, "nested": [{"Password": REDACTED,
                                                                                              "ok": "fine"}],
                                                    "access_token": REDACTED, "text": REDACTED}


def test_it_prunes_calls_past_the_retention(app, settings):
    settings.API_CALL_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (31, 29, 0):
        ApiCall.objects.create(instance=app.instance, created_at=now - dt.timedelta(days=days), method="GET",
                               resource="accounts", status=200, latency_ms=3)
    IdempotentResponse.objects.create(instance=app.instance, key="old", fingerprint="f", status=201,
                                      created_at=now - dt.timedelta(hours=25))
    IdempotentResponse.objects.create(instance=app.instance, key="new", fingerprint="f", status=201)
    assert prune_call_log() == 1
    assert ApiCall.objects.filter(instance=app.instance).count() == 2
    assert list(IdempotentResponse.objects.values_list("key", flat=True)) == ["new"]


def test_it_is_scheduled_in_beat():
    from config.celery import app as celery_app

    celery_app.loader.import_default_modules()
    celery_app.finalize()
    schedule = celery_app.conf.beat_schedule
    assert schedule["api-prune-call-log"]["task"] == "api.prune_call_log"
    assert "api.prune_call_log" in celery_app.tasks


def test_it_traces_text_postgresql_would_refuse(app):
    Instance.objects.filter(pk=app.instance.pk).update(trace_until=timezone.now() + dt.timedelta(hours=1))
    body = '{"name\\ud800": "a\\u0000b", "city": "\\udfff"}'
    answer = app.client.post("/api/v1/crm/accounts", body, content_type="application/json",
                             headers={"Authorization": f"Bearer {app.token}"})
    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    call = ApiCall.objects.get(instance=app.instance)
    assert call.status == 400 and call.trace["request"]["body"] == {"name?": "a\ufffdb", "city": "?"}
