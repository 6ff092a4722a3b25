"""An instance's jobs (with their steps), health history and reviews; setups; the audit log."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework.response import Response

from setup_portal.audit.access import visible_audit_events
from setup_portal.audit.views import AuditFilterForm, filter_events
from setup_portal.instances import actions, token_reveal
from setup_portal.instances.lifecycle_forms import ReviewForm
from setup_portal.instances.models import JobStep, ProvisioningJob
from setup_portal.teams import permissions
from setup_portal.text import whole_number
from setup_portal.wizard.access import setup_for, visible_setups
from setup_portal.wizard.models import Setup

from ..problems import Problem
from . import examples as ex
from . import serializers as s
from .base import ManagementView, instance_for, invalid
from .instances import ID, _detail
from .pagination import paginate
from .schema import PAGING, operation

JOB_ID = OpenApiParameter("job_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The job's id.")
SETUP_ID = OpenApiParameter("setup_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The setup's id.")

def _day(name: str, description: str) -> OpenApiParameter:
    # A string with the day's shape rather than format: date, so an empty value ("no filter", as the
    # page's form takes it) is valid too; an impossible day (February 30) is the form's 400.
    return OpenApiParameter(name, str, description=description, pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")


def _jobs():
    return ProvisioningJob.objects.select_related("created_by").prefetch_related(
        Prefetch("steps", queryset=JobStep.objects.order_by("position")))


def _job_for(request, job_id: str, allowed=permissions.can_view_instance) -> ProvisioningJob:
    """The job, if the caller may see its instance (404 otherwise, as for the instance itself)."""
    pk = whole_number(str(job_id))
    if pk is None:
        raise Problem(404, "No such job.")
    job = get_object_or_404(ProvisioningJob.objects.only("id", "instance_id"), pk=pk)
    instance_for(request, job.instance_id, allowed)
    return _jobs().get(pk=job.pk)


class InstanceJobs(ManagementView):
    @operation(summary="List an instance's jobs",
               operation_id="listInstanceJobs",
               examples=[ex.JOB_PAGE],
               description="Provisioning and re-authentication jobs, newest "
                           "first, each with its steps.",
               parameters=[ID, *PAGING], responses={200: s.page_of(s.JobOut(), "JobPage")}, errors=(400, 404, 422),
               tags=["Jobs"])
    def get(self, request, instance_id):
        inst = instance_for(request, instance_id)
        page, links = paginate(request, _jobs().filter(instance=inst).order_by("-created_at", "-id"))
        return Response({"results": s.JobOut(page, many=True).data, **links})


class JobDetail(ManagementView):
    @operation(summary="Get a job",
               operation_id="getJob",
               description="Follow provisioning: poll until `status` is `succeeded` or "
                           "`failed`; each step says what it did or why it failed. The first answer after "
                           "success carries the new `instance_token`, once, to the API key that started "
                           "the job; keep it then (answers are `Cache-Control: no-store`).",
               parameters=[JOB_ID], responses={200: s.JobResultOut}, errors=(404,), examples=[ex.JOB, ex.JOB_DONE],
               tags=["Jobs"])
    def get(self, request, job_id):
        job = _job_for(request, job_id)
        prefix = getattr(request.auth, "prefix", "")  # an API key's; a browser session has none
        job.instance_token = None
        # Only with the status this answer shows: a job read as running whose success commits a moment
        # later would otherwise hand its token over in an answer that says "running", which a script
        # following the job ignores, and every later answer would carry none.
        if prefix and job.status == ProvisioningJob.Status.SUCCEEDED:
            job.instance_token = token_reveal.do_hand_over_token(job.pk, api_key_prefix=prefix,
                                                                 acting_user=request.user)
        return Response(s.JobResultOut(job).data, headers={"Cache-Control": "no-store"})


class JobRetry(ManagementView):
    @operation(summary="Retry a failed job",
               operation_id="retryJob",
               examples=[ex.JOB_RETRIED],
               description="Runs it again from the step that failed; steps that "
                           "succeeded are not redone. Admins only.",
               parameters=[JOB_ID], request=None, responses={202: s.JobOut}, errors=(404, 409), tags=["Jobs"])
    def post(self, request, job_id):
        job = _job_for(request, job_id, permissions.can_change_instance)
        if job.status != ProvisioningJob.Status.FAILED:
            raise Problem(409, f"Only a failed job can be retried; this one is {job.get_status_display().lower()}.")
        try:
            actions.do_retry_job(job, acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise Problem(409, str(exc)) from None
        return Response(s.JobOut(_jobs().get(pk=job.pk)).data, status=202)


class InstanceHealth(ManagementView):
    @operation(summary="An instance's health history",
               operation_id="listInstanceHealth",
               examples=[ex.HEALTH_PAGE],
               description="Connection checks, newest first.",
               parameters=[ID, *PAGING], responses={200: s.page_of(s.HealthCheckOut(), "HealthCheckPage")},
               errors=(400, 404, 422), tags=["Instances"])
    def get(self, request, instance_id):
        inst = instance_for(request, instance_id)
        rows = inst.health_checks.select_related("triggered_by").order_by("-checked_at", "-id")
        page, links = paginate(request, rows)
        return Response({"results": s.HealthCheckOut(page, many=True).data, **links})


class InstanceReviews(ManagementView):
    @operation(summary="An instance's reviews",
               operation_id="listInstanceReviews",
               examples=[ex.REVIEW_PAGE],
               description="Team leads' decisions and comments, newest first.",
               parameters=[ID, *PAGING], responses={200: s.page_of(s.ReviewOut(), "ReviewPage")},
               errors=(400, 404, 422),
               tags=["Reviews"])
    def get(self, request, instance_id):
        inst = instance_for(request, instance_id)
        rows = inst.reviews.select_related("reviewer").order_by("-created_at", "-id")
        page, links = paginate(request, rows)
        return Response({"results": s.ReviewOut(page, many=True).data, **links})


class InstanceApprove(ManagementView):
    @operation(summary="Approve an instance",
               operation_id="approveInstance",
               description="The team's team leads only (admins do not approve "
                           "their own work).",
               parameters=[ID], request=s.ReviewIn, responses={200: s.InstanceDetailOut}, errors=(400, 404, 409, 422),
               examples=[OpenApiExample("Approve", request_only=True, value={"comment": "Looks right."}), ex.INSTANCE],
               tags=["Reviews"])
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_review_instance)
        form = _review_form(request)
        try:
            actions.do_approve_instance(inst, comment=form.cleaned_data["comment"], acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise Problem(409, str(exc)) from None
        return Response(_detail(inst))


class InstanceRequestChanges(ManagementView):
    @operation(summary="Ask for changes",
               operation_id="requestInstanceChanges",
               description="The owner sees the comment; an edit sends the instance "
                           "back for review. The team's team leads only.",
               parameters=[ID], request=s.RequestChangesIn, responses={200: s.InstanceDetailOut},
               errors=(400, 404, 409, 422),
               examples=[OpenApiExample("Ask", request_only=True, value={"comment": "Tag it with the region."}),
                         ex.INSTANCE],
               tags=["Reviews"])
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_review_instance)
        body = s.RequestChangesIn(data=request.data)
        body.is_valid(raise_exception=True)
        form = _review_form(request)
        if not form.cleaned_data["comment"].strip():
            raise Problem(422, "Some values are not valid.", slug="validation",
                          errors={"comment": ["Say what should change, so the owner knows what to do."]})
        try:
            actions.do_request_changes(inst, comment=form.cleaned_data["comment"], acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise Problem(409, str(exc)) from None
        return Response(_detail(inst))


def _review_form(request) -> ReviewForm:
    body = s.ReviewIn(data=request.data)
    body.is_valid(raise_exception=True)
    form = ReviewForm(body.validated_data)
    if not form.is_valid():
        raise invalid(form)
    return form


def _setups(request):
    return (visible_setups(request.user).select_related("owner", "instance")
            .exclude(status=Setup.Status.DISCARDED))


class SetupList(ManagementView):
    @operation(summary="List setups",
               operation_id="listSetups",
               examples=[ex.SETUP_PAGE],
               description="Wizard setups (drafts and completed), newest first.",
               parameters=[OpenApiParameter("status", str, enum=[Setup.Status.DRAFT, Setup.Status.COMPLETED]),
                           *PAGING],
               responses={200: s.page_of(s.SetupOut(), "SetupPage")}, errors=(400, 422), tags=["Setups"])
    def get(self, request):
        rows = _setups(request).order_by("-created_at", "-pk")
        status = request.query_params.get("status")
        if status is not None:
            if status not in (Setup.Status.DRAFT, Setup.Status.COMPLETED):
                raise Problem(400, "Some values are not valid.", slug="validation",
                              errors={"status": ["Pick draft or completed."]})
            rows = rows.filter(status=status)
        page, links = paginate(request, rows)
        return Response({"results": s.SetupOut(page, many=True).data, **links})


class SetupDetail(ManagementView):
    @operation(summary="Get a setup",
               operation_id="getSetup",
               examples=[ex.SETUP],
               description="Its values (never a secret) and every stage recorded.",
               parameters=[SETUP_ID], responses={200: s.SetupDetailOut}, errors=(404,), tags=["Setups"])
    def get(self, request, setup_id):
        setup = setup_for(request.user, setup_id, rows=_setups(request))
        return Response(s.SetupDetailOut(setup).data)


class AuditEventList(ManagementView):
    @operation(summary="List audit events",
               operation_id="listAuditEvents",
               examples=[ex.AUDIT_PAGE],
               description="The audit log with its page's filters, newest first.",
               parameters=[OpenApiParameter("q", str), OpenApiParameter("actor", str), OpenApiParameter("verb", str),
                           OpenApiParameter("target_type", str), OpenApiParameter("target", str),
                           _day("since", "From this day (YYYY-MM-DD)."),
                           _day("until", "Up to and including this day (YYYY-MM-DD)."),
                           *PAGING],
               responses={200: s.page_of(s.AuditEventOut(), "AuditEventPage")}, errors=(400, 422), tags=["Audit"])
    def get(self, request):
        form = AuditFilterForm(request.query_params)
        if not form.is_valid():
            raise invalid(form)
        rows = filter_events(form.cleaned_data, visible_audit_events(request.user))
        page, links = paginate(request, rows.order_by("-created_at", "-id"))
        return Response({"results": s.AuditEventOut(page, many=True).data, **links})
