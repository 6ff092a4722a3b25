"""The provisioning progress page: live steps, the failure explained, retry, and the one-time token."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from setup_portal.accounts.roles import admin_required, is_admin, reviewer_required
from setup_portal.azure.errors import explain

from .actions import do_retry_job
from .models import Instance, JobStep, ProvisioningJob
from .provisioning import STEP_LABELS

FINISHED = {ProvisioningJob.Status.SUCCEEDED, ProvisioningJob.Status.FAILED}
ICONS = {"succeeded": "✓", "failed": "✕", "skipped": "–"}


def _get_instance(instance_id: uuid.UUID) -> Instance:
    return get_object_or_404(Instance.objects.exclude(status=Instance.Status.DELETED).select_related("owner"),
                             pk=instance_id)


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


def _reveal_token(request: HttpRequest, instance: Instance) -> str:
    """The new instance token, once, to its owner; cleared from the database as it is shown."""
    if instance.owner_id != request.user.pk or not instance.token_pending_reveal:
        return ""
    token = str(instance.token_pending_reveal)
    with transaction.atomic():
        cleared = Instance.objects.filter(pk=instance.pk, token_hash=instance.token_hash).exclude(
            token_pending_reveal="").update(token_pending_reveal="")
    return token if cleared == 1 else ""


@reviewer_required
def progress(request: HttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    instance = _get_instance(instance_id)
    ctx = {"instance": instance, "can_act": is_admin(request.user), **_progress(instance)}
    ctx["new_token"] = _reveal_token(request, instance) if instance.status == Instance.Status.READY else ""
    template = "instances/progress_fragment.html" if request.headers.get("HX-Request") else "instances/progress.html"
    return render(request, template, ctx)


@reviewer_required
def progress_json(request: HttpRequest, instance_id: uuid.UUID) -> JsonResponse:
    instance = _get_instance(instance_id)
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
    instance = _get_instance(instance_id)
    job = instance.jobs.first()
    if job is None or job.status != ProvisioningJob.Status.FAILED:
        messages.info(request, "There is no failed job to retry.")
    else:
        do_retry_job(job, acting_user=request.user)
        messages.success(request, "Retrying from the failed step; finished steps are kept.")
    return redirect("instances:progress", instance_id=instance.pk)


progress_urlpatterns = [
    path("<uuid:instance_id>/progress/", progress, name="progress"),
    path("<uuid:instance_id>/progress.json", progress_json, name="progress_json"),
    path("<uuid:instance_id>/progress/retry/", retry, name="retry_job"),
]
