"""The provisioning progress page: live steps, the failure explained, retry, and the new token's "Show token".

Live updates are server-sent events: the page opens one `EventSource` on `progress/stream/`
(static/js/progress.js), the view checks the job's state with one small indexed query every
TICK_SECONDS and sends the re-rendered panel only when that state changed, and the stream ends
when the job finishes or after WAIT_SECONDS, when the browser opens the next one. So a step
shows within about a tick of being written, and an idle page costs one request every
WAIT_SECONDS instead of one a second. The check reads the database (the only thing every
deployment has: SQLite and the file broker by default, no Redis), so there is one code path.
Without JavaScript the page refreshes itself (<noscript> meta refresh) and has a Reload link.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator

from django.contrib import messages
from django.db.models import Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST

from setup_portal.azure.errors import explain
from setup_portal.teams import permissions
from setup_portal.teams.roles import admin_required, reviewer_required

from . import token_reveal
from .actions import do_retry_job
from .models import Instance, JobStep, ProvisioningJob
from .provisioning import STEP_LABELS
from .views import instance_for

FINISHED = {ProvisioningJob.Status.SUCCEEDED, ProvisioningJob.Status.FAILED}
ICONS = {"succeeded": "✓", "failed": "✕", "skipped": "–"}

# A stream holds one web thread while it waits, so it is bounded three ways: it ends after
# WAIT_SECONDS (the browser reconnects at once), a process serves at most STREAM_SLOTS of them
# at a time (half of gunicorn's `--threads 8`, so pages always have threads left), and a server
# that runs one request at a time per process (gunicorn's sync worker) gets no held streams at all.
# Beyond those limits a stream answers with the current state and asks the browser to come back
# in BUSY_RETRY_MS: the page degrades to slow polling instead of starving the site.
WAIT_SECONDS = 25.0
TICK_SECONDS = 0.12
HEARTBEAT_SECONDS = 5.0  # a comment line now and then, so a closed tab frees its thread early
STREAM_SLOTS = 4
BUSY_RETRY_MS = 3000
_stream_slots = threading.BoundedSemaphore(STREAM_SLOTS)


def _elapsed(step: JobStep, now) -> float | None:
    if step.started_at is None:
        return None
    return max(0.0, ((step.finished_at or now) - step.started_at).total_seconds())


def _progress(instance: Instance) -> dict:
    """Everything the page, the fragment and the JSON need about the latest job."""
    job = instance.jobs.first()
    steps = list(job.steps.all()) if job else []
    now = timezone.now()
    rows = [{
        "key": s.key, "label": STEP_LABELS.get(s.key, s.key), "status": s.status, "detail": s.detail,
        "error_code": s.error_code, "attempts": s.attempts, "started_at": s.started_at,
        "finished_at": s.finished_at, "elapsed": _elapsed(s, now), "icon": ICONS.get(s.status, str(i + 1)),
    } for i, s in enumerate(steps)]
    done = sum(1 for s in steps if s.status in (JobStep.Status.SUCCEEDED, JobStep.Status.SKIPPED))
    failed = job is not None and job.status == ProvisioningJob.Status.FAILED
    return {
        "job": job, "steps": rows, "done": done, "total": len(steps),
        "percent": 100 if job and job.status == ProvisioningJob.Status.SUCCEEDED
        else int(done * 100 / len(steps)) if steps else 0,
        "finished": job is None or job.status in FINISHED,
        "failure": explain(job.error_code) if failed else None,
        "failed_step": next((r for r in rows if r["status"] == JobStep.Status.FAILED), None),
        "elapsed": ((job.finished_at or now) - job.created_at).total_seconds() if job else None,
    }


def live_state(instance_id: uuid.UUID) -> tuple[str, bool]:
    """A short digest of everything the live panel shows that the worker changes, and whether
    the job has finished.

    One query: the latest job's steps (indexed by job) joined to the job's and the instance's
    status. The step detail is included because a retry rewrites it ("try 3 of 5") without
    changing anything else. No job (or no instance) counts as finished.
    """
    latest_job = ProvisioningJob.objects.filter(instance_id=instance_id).values("pk")[:1]
    rows = list(JobStep.objects.filter(job_id=Subquery(latest_job)).order_by("position").values_list(
        "job_id", "job__status", "job__instance__status", "status", "attempts", "error_code", "detail"))
    finished = not rows or rows[0][1] in FINISHED
    return hashlib.blake2b(repr(rows).encode(), digest_size=8).hexdigest(), finished


def _context(request: HttpRequest, instance: Instance) -> dict:
    # The version is read before the rows it stands for: a change landing in between then
    # shows up as a newer version on the next check instead of being missed.
    version = live_state(instance.pk)[0]
    progress = _progress(instance)
    if progress["finished"]:
        # The worker finishes the job and makes the instance Ready (its token, its ready time) in one
        # transaction, but `instance` was read before the job: read it again, or the last panel of
        # the stream could show the finished job beside the instance as it was a moment before.
        instance.refresh_from_db()
    ctx = {"instance": instance, "can_act": permissions.can_change_instance(request.user, instance),
           "version": version, **progress}
    # Whether a "Show token" button is offered; the token itself is never part of the panel
    # (token_reveal.py), so no render, stream or reload can use it up.
    ctx["token_waiting"] = token_reveal.waiting_for(instance, request.user)
    return ctx


@reviewer_required
def progress(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    instance = instance_for(request, instance_id, live=True)
    return render(request, "instances/progress.html", _context(request, instance))


def _event(name: str, data: str) -> str:
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in data.splitlines() or [""]) + "\n"


def _progress_events(request: HttpRequest, instance_id: uuid.UUID, seen: str, *, threaded: bool) -> Iterator[str]:
    """Send the panel whenever the state differs from `seen`; end when finished or the wait is over."""
    # Taken here, not in the view: a generator that never starts never runs its `finally`.
    hold = threaded and _stream_slots.acquire(blocking=False)
    try:
        deadline = time.monotonic() + (WAIT_SECONDS if hold else 0)
        heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        while True:
            version, finished = live_state(instance_id)
            if version != seen:
                instance = Instance.objects.exclude(status=Instance.Status.DELETED).filter(pk=instance_id).first()
                if instance is None:
                    yield _event("gone", "")
                    return
                ctx = _context(request, instance)
                seen, finished = ctx["version"], ctx["finished"]
                yield _event("progress", render_to_string("instances/progress_fragment.html", ctx, request))
            if finished:
                return
            now = time.monotonic()
            if now >= deadline:
                yield _event("again", "0" if hold else str(BUSY_RETRY_MS))
                return
            if now >= heartbeat:
                heartbeat = now + HEARTBEAT_SECONDS
                yield ": still waiting\n\n"
            time.sleep(TICK_SECONDS)
    finally:
        if hold:
            _stream_slots.release()


@reviewer_required
def progress_stream(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    """Server-sent events: `progress` carries the re-rendered panel, `again` says when to reconnect."""
    instance_for(request, instance_id, live=True)
    get_token(request)  # the panel may gain a retry form: its CSRF cookie must go out with the headers
    threaded = request.META.get("wsgi.multithread") is True
    seen = request.GET.get("seen", "")[:32]
    response = StreamingHttpResponse(_progress_events(request, instance_id, seen, threaded=threaded),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must pass each event on at once
    return response


@reviewer_required
def progress_json(request: HttpRequest, instance_id: uuid.UUID) -> JsonResponse:
    instance = instance_for(request, instance_id, live=True)
    data = _progress(instance)
    job = data["job"]
    return JsonResponse({
        "instance": {"id": str(instance.pk), "name": instance.name, "status": instance.status,
                     "status_code": instance.status_code, "ready_at": instance.ready_at},
        "job": job and {"id": job.pk, "kind": job.kind, "status": job.status, "error_code": job.error_code,
                        "error_detail": job.error_detail, "attempts": job.attempts, "created_at": job.created_at,
                        "started_at": job.started_at, "finished_at": job.finished_at},
        "steps": [{k: v for k, v in row.items() if k not in {"label", "icon"}} for row in data["steps"]],
        "percent": data["percent"], "finished": data["finished"],
        "explanation": data["failure"] and {"title": data["failure"].title,
                                            "what_to_do": data["failure"].what_to_do},
    })


@require_POST
@admin_required
def retry(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    instance = instance_for(request, instance_id, permissions.can_change_instance, live=True)
    job = instance.jobs.first()
    if job is None or job.status != ProvisioningJob.Status.FAILED:
        messages.info(request, "There is no failed job to retry.")
    else:
        do_retry_job(job, acting_user=request.user)
        messages.success(request, "Retrying from the failed step; finished steps are kept.")
    return redirect("instances:progress", instance_id=instance.pk)

