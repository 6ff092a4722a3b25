"""The progress page, its live stream (server-sent events), the JSON status, retry and the new token's button."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from django.db import connection
from django.utils import timezone

from setup_portal.instances import progress_views, token_reveal
from setup_portal.instances.models import Instance, JobStep, ProvisioningJob
from setup_portal.instances.provisioning import STEP_KEYS
from tests.azure.provisioning import authorize_setup, create_instance, sandbox_setup, wait_for_job
from tests.conftest import ROOT, subprocess_env

# The stream holds a thread only on a server that runs several at once; the test client
# says it does not (wsgi.multithread False), so the tests that need a held stream say it does.
THREADED = {"wsgi.multithread": True}


def _instance(owner, *, job_status="running", failed_step=None, code="") -> Instance:
    instance = Instance.objects.create(name="Contoso sales", owner=owner, dynamics_url="https://contoso.crm.dynamics.com",
                                       tenant="contoso.onmicrosoft.com", auth_type="oauth2",
                                       client_secret="very-secret-value-123", status="provisioning")
    job = ProvisioningJob.objects.create(instance=instance, status=job_status, error_code=code,
                                         started_at=timezone.now())
    now = timezone.now()
    for i, key in enumerate(STEP_KEYS):
        if job_status == "succeeded" or i < 2:
            status = "succeeded"
        elif i == 2:
            status = "failed" if failed_step else "running"
        else:
            status = "pending"
        JobStep.objects.create(job=job, key=key, position=i, status=status, attempts=1 if status != "pending" else 0,
                               started_at=now if status != "pending" else None,
                               finished_at=now if status in ("succeeded", "failed") else None,
                               error_code=code if status == "failed" else "",
                               detail="Dynamics CRM answered 403." if status == "failed" else "")
    return instance


def _ready(owner) -> Instance:
    instance = _instance(owner, job_status="succeeded")
    token = "dci_example-token-value-0123456789"
    Instance.objects.filter(pk=instance.pk).update(status="ready", ready_at=timezone.now(),
                                                   token_hash=hashlib.sha256(token.encode()).hexdigest(),
                                                   token_prefix=token[:12])
    instance.refresh_from_db()
    instance.save(update_fields=token_reveal.hold(instance, token, issued_to=owner))
    return instance


def _stream_url(client, instance: Instance) -> str:
    """The stream URL the page itself hands to the browser (with the version it rendered)."""
    body = client.get(f"/instances/{instance.pk}/progress/").content.decode()
    return re.search(r'data-stream="([^"]+)"', body).group(1)


def _events(response, on_event=None) -> list[tuple[str, str, float]]:
    """Read a text/event-stream response to its end: (event, data, monotonic time received);
    `on_event()` is called once, as soon as the first event has arrived."""
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = []
    for chunk in response.streaming_content:
        received = time.monotonic()
        text = chunk.decode()
        if text.startswith(":"):
            events.append(("comment", text, received))
        else:
            name = re.search(r"^event: (.*)$", text, re.M).group(1)
            data = "\n".join(re.findall(r"^data: ?(.*)$", text, re.M))
            events.append((name, data, received))
        if on_event is not None:
            on_event()
            on_event = None
    return events


@pytest.mark.django_db
def test_it_shows_the_steps_and_names_its_stream(alice_client, alice):
    instance = _instance(alice)
    response = alice_client.get(f"/instances/{instance.pk}/progress/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "hx-trigger" not in body  # no 1-second poll any more
    assert re.search(rf'data-stream="/instances/{instance.pk}/progress/stream/\?seen=[0-9a-f]{{16}}"', body)
    assert re.search(r'<script src="/static/js/progress\.[0-9a-f.]*js" defer>|<script src="/static/js/progress\.js"',
                     body)
    assert "Read the organization&#x27;s details" in body and 'class="step-running"' in body
    assert '<progress class="progress" max="100" value="33"' in body
    assert "very-secret-value-123" not in body


@pytest.mark.django_db
def test_it_works_without_javascript(alice_client, alice):
    """No script: the page refreshes itself every 2 s and has a Reload link until the job ends."""
    instance = _instance(alice)
    body = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in body
    assert f'<a href="/instances/{instance.pk}/progress/">Reload</a>' in body
    JobStep.objects.filter(job__instance=instance).update(status="succeeded", finished_at=timezone.now())
    ProvisioningJob.objects.filter(instance=instance).update(status="succeeded", finished_at=timezone.now())
    Instance.objects.filter(pk=instance.pk).update(status="ready", ready_at=timezone.now())
    body = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "Contoso sales is ready" in body
    assert "refresh" not in body and "data-stream" not in body and "progress.js" not in body


@pytest.mark.django_db
def test_a_finished_job_has_no_stream(alice_client, alice):
    instance = _instance(alice, job_status="failed", failed_step=True, code="dataverse_403")
    body = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "data-stream" not in body and "progress.js" not in body and "http-equiv" not in body
    assert "Dynamics CRM refused access" in body and "application user" in body
    assert "Retry from the failed step" in body
    # A stream opened anyway sends the final panel once and ends at once.
    events = _events(alice_client.get(f"/instances/{instance.pk}/progress/stream/", **THREADED))
    assert [name for name, _, _ in events] == ["progress"]
    assert 'id="progress-live"' in events[0][1] and "<html" not in events[0][1]
    assert "Retry from the failed step" in events[0][1] and "data-stream" not in events[0][1]


@pytest.mark.django_db(transaction=True)
def test_it_sends_a_step_change_at_once(alice_client, alice, monkeypatch):
    monkeypatch.setattr(progress_views, "WAIT_SECONDS", 2.0)
    instance = _instance(alice)
    url = _stream_url(alice_client, instance)
    changed_at = {}

    def worker_finishes_a_step():
        time.sleep(0.6)
        try:
            JobStep.objects.filter(job__instance=instance, key="organization").update(
                status="succeeded", finished_at=timezone.now(), detail="Contoso, version 9.2.")
            changed_at["t"] = time.monotonic()
        finally:
            connection.close()

    writer = threading.Thread(target=worker_finishes_a_step)
    writer.start()
    events = _events(alice_client.get(url, **THREADED))
    writer.join()
    assert [name for name, _, _ in events if name != "comment"] == ["progress", "again"]
    _, panel, received = events[0]
    assert "Contoso, version 9.2." in panel and "3 of 6 steps" in panel
    assert received - changed_at["t"] < 1.0  # one check interval (0.12 s) plus rendering, with room to spare


@pytest.mark.django_db
def test_it_ends_after_the_bounded_wait_and_asks_to_reconnect(alice_client, alice, monkeypatch):
    monkeypatch.setattr(progress_views, "WAIT_SECONDS", 0.5)
    monkeypatch.setattr(progress_views, "HEARTBEAT_SECONDS", 0.2)
    instance = _instance(alice)
    started = time.monotonic()
    events = _events(alice_client.get(_stream_url(alice_client, instance), **THREADED))
    names = [name for name, _, _ in events]
    assert names[-1] == "again" and events[-1][1] == "0"  # come back at once
    assert "progress" not in names  # nothing changed, nothing sent
    assert "comment" in names  # the heartbeat that lets a closed tab free its thread
    assert 0.5 <= events[-1][2] - started < 2


@pytest.mark.django_db
def test_a_server_without_spare_threads_gets_slow_polling_instead(alice_client, alice, monkeypatch):
    """A single-threaded worker, or every stream slot taken: answer now, come back in 3 s."""
    monkeypatch.setattr(progress_views, "WAIT_SECONDS", 0.3)
    instance = _instance(alice)
    url = _stream_url(alice_client, instance)
    started = time.monotonic()
    assert [(n, d) for n, d, _ in _events(alice_client.get(url))] == [("again", "3000")]
    taken = [progress_views._stream_slots.acquire(blocking=False) for _ in range(progress_views.STREAM_SLOTS)]
    try:
        assert all(taken)
        assert [(n, d) for n, d, _ in _events(alice_client.get(url, **THREADED))] == [("again", "3000")]
    finally:
        for _ in taken:
            progress_views._stream_slots.release()
    assert time.monotonic() - started < 1  # nothing was held
    assert _events(alice_client.get(url, **THREADED))[-1][:2] == ("again", "0")  # held again once slots are free


@pytest.mark.django_db
def test_a_deleted_instance_ends_the_stream(alice_client, alice):
    instance = _instance(alice)
    url = _stream_url(alice_client, instance)
    response = alice_client.get(url, **THREADED)  # the stream starts when it is first read
    Instance.objects.filter(pk=instance.pk).update(status="deleted")
    assert [name for name, _, _ in _events(response)] == ["gone"]  # the script reloads: the page says 404
    assert alice_client.get(url, **THREADED).status_code == 404
    assert alice_client.get("/instances/00000000-0000-0000-0000-000000000000/progress/stream/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("client_fixture, status", [("alice_client", 200), ("bob_client", 200),
                                                    ("charlie_client", 403), ("client", 302)])
def test_only_admins_and_team_leads_see_it(request, alice, client_fixture, status):
    instance = _instance(alice, job_status="failed", failed_step=True, code="http_503")
    client = request.getfixturevalue(client_fixture)
    assert client.get(f"/instances/{instance.pk}/progress/").status_code == status
    assert client.get(f"/instances/{instance.pk}/progress.json").status_code == status
    assert client.get(f"/instances/{instance.pk}/progress/stream/").status_code == status


@pytest.mark.django_db
def test_team_leads_cannot_retry(bob_client, alice):
    instance = _instance(alice, job_status="failed", failed_step=True, code="http_503")
    assert "Retry from the failed step" not in bob_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert bob_client.post(f"/instances/{instance.pk}/progress/retry/").status_code == 403
    assert ProvisioningJob.objects.get().status == "failed"


@pytest.mark.django_db
def test_retry_resets_only_the_failed_step(alice_client, alice, django_capture_on_commit_callbacks):
    instance = _instance(alice, job_status="failed", failed_step=True, code="http_503")
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(f"/instances/{instance.pk}/progress/retry/")
    assert response.status_code == 302 and len(callbacks) == 1  # enqueued once, on commit
    job = ProvisioningJob.objects.get()
    assert job.status == "queued" and job.error_code == ""
    statuses = dict(job.steps.values_list("key", "status"))
    assert statuses["acquire_token"] == statuses["whoami"] == "succeeded"
    assert statuses["organization"] == "pending"
    instance.refresh_from_db()
    assert instance.status == "provisioning"


@pytest.mark.django_db
def test_the_page_offers_the_token_to_its_owner_and_never_uses_it_up(alice_client, bob_client, alice):
    instance = _ready(alice)
    lead = bob_client.get(f"/instances/{instance.pk}/progress/").content.decode()
    assert "dci_example-token-value" not in lead and "Show token" not in lead
    assert "dci_example-token-value" not in alice_client.get(f"/instances/{instance.pk}/progress.json").content.decode()
    for _ in range(3):  # every render offers the button; none shows or spends the token
        page = alice_client.get(f"/instances/{instance.pk}/progress/").content.decode()
        assert "Show token" in page and "dci_example-token-value" not in page
        assert f'hx-post="/instances/{instance.pk}/token/show/"' in page
    instance.refresh_from_db()
    assert instance.token_pending_reveal == "dci_example-token-value-0123456789"


@pytest.mark.django_db
def test_the_stream_offers_the_token_without_using_it_up(alice_client, bob_client, alice):
    instance = _ready(alice)
    url = f"/instances/{instance.pk}/progress/stream/"
    assert "Show token" not in _events(bob_client.get(url, **THREADED))[0][1]
    for _ in range(2):
        panel = _events(alice_client.get(url, **THREADED))[0][1]
        assert "Show token" in panel and "dci_example-token-value" not in panel
    instance.refresh_from_db()
    assert instance.token_pending_reveal == "dci_example-token-value-0123456789"


@pytest.mark.django_db
def test_the_json_status(alice_client, alice):
    instance = _instance(alice, job_status="failed", failed_step=True, code="dataverse_403")
    data = alice_client.get(f"/instances/{instance.pk}/progress.json").json()
    assert data["job"]["status"] == "failed" and data["finished"] is True
    assert [s["key"] for s in data["steps"]] == STEP_KEYS
    assert data["steps"][2]["error_code"] == "dataverse_403"
    assert data["explanation"]["title"] == "Dynamics CRM refused access"


def test_elapsed_times_read_well():
    from setup_portal.instances.templatetags.instance_tags import seconds

    assert [seconds(v) for v in (None, 0.042, 1.44, 125)] == ["", "42 ms", "1.4 s", "2 min 5 s"]


@pytest.mark.slow
def test_it_streams_each_step_as_a_real_worker_finishes_it(clean_sandbox, celery_worker, alice, alice_client):
    """A real Celery worker provisions against the sandbox while one stream watches: every
    step arrives as its own event, in order, and the stream ends with Ready."""
    sbx = clean_sandbox
    sbx.reset()
    setup = sandbox_setup(alice, sbx, "s2s")
    authorize_setup(setup, sbx)
    # Slow Dataverse answers, so each step is visible on its own between checks.
    sbx.faults(endpoint="whoami", latency_ms=500, times=1)
    sbx.faults(endpoint="webapi", latency_ms=500, times=3)
    # The worker waits until the stream has shown the queued job: on a busy machine the first
    # steps would otherwise be over before the stream's first look.
    celery_worker.pause()
    try:
        job = create_instance(setup)
        instance = job.instance
        events = _follow(alice_client, instance, on_first_panel=celery_worker.resume)
    finally:
        celery_worker.resume()
    job = wait_for_job(job, celery_worker)
    assert job.status == "succeeded", job.error_detail

    panels = [data for name, data, _ in events if name == "progress"]
    done = [int(re.search(r"(\d) of 6 steps", panel).group(1)) for panel in panels]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 6
    assert len(set(done)) >= 4, done  # steps arrived one by one, not all at the end
    assert "Contoso sales is ready" in panels[-1] and "data-stream" not in panels[-1]
    # The last panel offers the token; no panel carries it, so none used it up.
    assert "Show token" in panels[-1] and not [panel for panel in panels if "dci_" in panel]
    token = alice_client.post(f"/instances/{instance.pk}/token/show/").context["token"]
    instance.refresh_from_db()
    assert token.startswith("dci_") and instance.token_hash == hashlib.sha256(token.encode()).hexdigest()


def _follow(client, instance: Instance, timeout: float = 120, on_first_panel=None) -> list[tuple[str, str, float]]:
    """Follow the stream as progress.js does, reconnecting after each bounded wait with the version
    last shown, until a panel without a stream URL (the job finished) or the deadline."""
    deadline = time.monotonic() + timeout
    events, seen = [], ""
    while time.monotonic() < deadline:
        response = client.get(f"/instances/{instance.pk}/progress/stream/", {"seen": seen}, **THREADED)
        events += _events(response, on_event=on_first_panel)
        on_first_panel = None
        panels = [data for name, data, _ in events if name == "progress"]
        if panels and "data-stream" not in panels[-1]:
            return events
        if panels:
            seen = re.search(r"seen=([0-9a-f]+)", panels[-1]).group(1)
    raise AssertionError(f"the stream did not show the end of the job within {timeout}s: {events[-3:]}")


@pytest.mark.parametrize("path", ["scripts/run.py", "docker-compose.yml", "Dockerfile"])
def test_every_web_server_has_threads_to_spare_for_the_streams(path):
    """gunicorn's default sync worker would serve no held stream at all (the page falls back to
    polling every 3 s): `make run`, the image and compose run threaded workers instead."""
    source = (ROOT / path).read_text()
    assert re.search(r"--worker-class[\", ]+gthread", source)
    threads = int(re.search(r"--threads[\", ]+(\d+)", source).group(1))
    assert threads >= 2 * progress_views.STREAM_SLOTS  # at least as many threads left for pages


@pytest.mark.slow
def test_a_dozen_open_progress_pages_leave_the_site_responsive(alice_client, alice, transactional_db):
    instance = _instance(alice)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                            "--workers", "2", "--worker-class", "gthread", "--threads", "8",
                            "--graceful-timeout", "1"], cwd=ROOT,
                           env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    cookies = {"sessionid": alice_client.cookies["sessionid"].value}
    streams = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/accounts/login/", timeout=2)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        for _ in range(12):  # a dozen tabs watching the same job
            streams.append(requests.get(f"{base}/instances/{instance.pk}/progress/stream/", cookies=cookies,
                                        stream=True, timeout=5))
        assert all(r.status_code == 200 for r in streams)
        started = time.monotonic()
        page = requests.get(f"{base}/instances/{instance.pk}/progress/", cookies=cookies, timeout=10)
        assert page.status_code == 200 and "Contoso sales" in page.text
        assert time.monotonic() - started < 2  # answered at once, not after a stream's 25 s
    finally:
        for response in streams:
            response.close()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(10)
