"""Instances: list with the dashboard's filters, get, change, delete, lifecycle verbs, provisioning."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer
from rest_framework.response import Response

from setup_portal.azure.certificates import Certificate
from setup_portal.dashboard import filters
from setup_portal.events import endpoints
from setup_portal.events.forms import EndpointForm
from setup_portal.instances import actions, polling_settings
from setup_portal.instances.creation import PRODUCTION_REFUSAL, do_start_promotion
from setup_portal.instances.forms import EditInstanceForm
from setup_portal.instances.lifecycle_forms import DisableForm
from setup_portal.instances.models import Instance
from setup_portal.teams import permissions
from setup_portal.wizard.models import Setup

from ..problems import Problem
from . import examples as ex
from . import serializers as s
from .base import ManagementView, conflict, instance_for, invalid
from .pagination import paginate
from .provisioning import provision
from .schema import PAGING, operation

TAG = ["Instances"]
ID = OpenApiParameter("instance_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The instance's id.")
# As on the dashboard, an empty filter value means "no filter" (a form's unpicked choice).
LIST_PARAMETERS = [
    OpenApiParameter("q", str, description="Search in name, URL, tenant, client ID, organization, owner, tags."),
    OpenApiParameter("status", str, enum=["", *Instance.Status.values, filters.ALL_STATUSES],
                     description="One status; `all` includes deleted instances (left out otherwise)."),
    OpenApiParameter("review", str, enum=["", *Instance.Review.values, filters.AWAITING_REVIEW],
                     description="One review state; `awaiting` is pending or resubmitted."),
    OpenApiParameter("health", str, enum=["", *Instance.Health.values]),
    OpenApiParameter("tag", str, description="One tag."),
    OpenApiParameter("owner", str, description="The owner's username."),
    OpenApiParameter("secret", str, enum=["", *s.SECRET_FILTERS], description="Client secret expiry: `soon` (30 days), "
                                                                        "`week` (7 days) or `expired`."),
    OpenApiParameter("sort", str, enum=["", *s.INSTANCE_SORTS], description="A column, `-` first for descending. "
                                                                      "Default `-created`."),
    *PAGING,
]

NAME_TAKEN = "An instance with this name exists already (whatever the case)."
PROVISION_REFUSED = (
    "A stage's rules refused a value the schema allows (as the wizard's pages would): a `dynamics_url` that is "
    "not a Dynamics CRM environment (an IP address, another host, a port), a `tenant` that is neither a tenant "
    "ID nor a domain, `credentials` that do not fit `auth_type` or that Azure AD refuses (`code` is its AADSTS "
    "code), a `team` the caller is not an admin of, a callback URL the portal does not call. `errors` says "
    "which field.")


def _detail(inst: Instance) -> dict:
    inst = Instance.objects.select_related("owner", "reviewed_by", "webhook_endpoint").get(pk=inst.pk)
    return s.InstanceDetailOut(inst).data


def _state_conflict(exc: Exception) -> Problem:
    return Problem(409, str(exc))


def _to_upload(setup: Setup, certificate: Certificate) -> Response:
    """201 for `generate`: the setup, the public certificate, and where to come back."""
    setup_url = reverse("rest:setup", args=[setup.pk])
    return Response({"setup": setup.pk, "setup_url": setup_url, "certificate": s.certificate_out(certificate),
                     "provision_url": reverse("rest:setup-provision", args=[setup.pk])},
                    status=201, headers={"Location": setup_url})


class InstanceList(ManagementView):
    @operation(
        summary="List instances", operation_id="listInstances",
        description="The dashboard's list: the same filters, search and sort, a page at a time. Follow `next` "
                    "for more. Deleted instances are left out unless `status=all`.",
        parameters=LIST_PARAMETERS, responses={200: s.page_of(s.InstanceOut(), "InstancePage")}, errors=(400, 422),
        examples=[ex.INSTANCE_PAGE], tags=TAG)
    def get(self, request):
        form = filters.InstanceFilterForm(request.query_params)
        if not form.is_valid():
            raise invalid(form)
        rows = (filters.filter_instances(form.cleaned_data).filter(permissions.team_scope(request.user))
                .select_related("owner", "reviewed_by"))
        page, links = paginate(request, rows)
        return Response({"results": s.InstanceOut(page, many=True).data, **links})

    @operation(
        summary="Provision an instance", operation_id="createInstance",
        description="Runs the wizard's stages with the same checks as its pages: environment, application, "
                    "keys (Azure AD is asked whether it accepts them), permissions. For `s2s` and `custom` "
                    "the portal then signs in, creates the instance and queues its provisioning: 202 with the "
                    "job to follow (`GET` it until `status` is `succeeded` or `failed`). For `oauth2` a person "
                    "must sign in with Microsoft: 201 with the setup and the `wizard_url` that continues it. "
                    "A certificate instead of a client secret: `credentials.credential_kind` `certificate` with "
                    "`certificate` (base64 of a .pem with its key, or of a .pfx; `certificate_password` if it has "
                    "one), checked as the Keys page checks an upload; or with `generate`: the portal makes a key "
                    "pair and answers 201 with the public `certificate` to upload to the app registration, and "
                    "the same body sent to `provision_url` afterwards finishes. "
                    "A value refused at any stage creates nothing.",
        request=s.InstanceCreateIn,
        responses={202: OpenApiResponse(s.ProvisioningStarted, description="Provisioning is queued."),
                   201: OpenApiResponse(PolymorphicProxySerializer(
                       component_name="SetupToContinue", serializers=[s.WizardContinues, s.CertificateToUpload],
                       resource_type_field_name=None),
                       description="OAuth 2.0: continue in the browser; or a generated certificate to upload.")},
        errors=(400, 409, 422, 503), error_text={409: NAME_TAKEN, 422: PROVISION_REFUSED},
        examples=[OpenApiExample("Server-to-server on the sandbox tenant", request_only=True, value={
            "auth_type": "s2s", "dynamics_url": "https://127.0.0.1:8443/dataverse/contoso",
            "tenant": "contoso.onmicrosoft.com", "name": "Contoso sales", "tags": ["sales"],
            "credentials": {"client_id": "1b2c3d4e-0000-4a5b-8c9d-112233445566",
                            "client_secret": "the secret's Value", "secret_expires_on": "2027-06-30"}}),
                  OpenApiExample("With a certificate of your own", request_only=True, value={
                      "auth_type": "s2s", "dynamics_url": "https://contoso.crm4.dynamics.com",
                      "tenant": "contoso.onmicrosoft.com", "name": "Contoso sales",
                      "credentials": {"credential_kind": "certificate",
                                      "client_id": "1b2c3d4e-0000-4a5b-8c9d-112233445566",
                                      "certificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMuLi4=",
                                      "certificate_password": ""}}),
                  OpenApiExample("With a certificate the portal generates", request_only=True, value={
                      "auth_type": "s2s", "dynamics_url": "https://contoso.crm4.dynamics.com",
                      "tenant": "contoso.onmicrosoft.com", "name": "Contoso sales",
                      "credentials": {"credential_kind": "certificate",
                                      "client_id": "1b2c3d4e-0000-4a5b-8c9d-112233445566", "generate": True}}),
                  ex.PROVISIONING_QUEUED, ex.WIZARD_CONTINUES, ex.CERTIFICATE_TO_UPLOAD],
        tags=TAG)
    def post(self, request):
        if not permissions.can_create_setup(request.user):
            raise Problem(403, "Only admins provision instances.")
        body = s.InstanceCreateIn(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = provision(body.validated_data, user=request.user, api_key_prefix=getattr(request.auth, "prefix", ""))
        if outcome.certificate is not None:
            return _to_upload(outcome.setup, outcome.certificate)
        setup_url = reverse("rest:setup", args=[outcome.setup.pk])
        if outcome.job is None:
            wizard_url = request.build_absolute_uri(reverse("wizard:stage", args=[outcome.setup.pk, "authorize"]))
            return Response({"setup": outcome.setup.pk, "setup_url": setup_url, "wizard_url": wizard_url},
                            status=201, headers={"Location": setup_url})
        job_url = reverse("rest:job", args=[outcome.job.pk])
        return Response({"instance": outcome.job.instance_id,
                         "instance_url": reverse("rest:instance", args=[outcome.job.instance_id]),
                         "job": outcome.job.pk, "job_url": job_url}, status=202, headers={"Location": job_url})


class InstanceDetail(ManagementView):
    @operation(summary="Get an instance",
               operation_id="getInstance",
               description="Its settings, state, review and webhook settings "
                           "(never a secret or token).",
               parameters=[ID], responses={200: s.InstanceDetailOut}, errors=(404,), examples=[ex.INSTANCE],
               tags=TAG)
    def get(self, request, instance_id):
        return Response(_detail(instance_for(request, instance_id)))

    @operation(
        summary="Change an instance's settings", operation_id="updateInstance",
        description="Send only what changes. The Edit page's rules apply (a name unique in the team, tags, "
                    "polling needs resources); `webhooks` are the Events page's settings. An edit while a team "
                    "lead's change request is open sends the instance back to them as resubmitted. Admins only.",
        parameters=[ID], request=s.InstanceSettingsIn, responses={200: s.InstanceDetailOut},
        errors=(400, 404, 409, 422),
        error_text={409: "The instance's state does not allow this now, or another instance of the team has this name.",
                    422: "The Edit and Events pages' rules refused a value the schema allows (a name's characters, "
                         "a tag, polling without resources, events on without a callback URL, a callback URL the "
                         "portal does not call): `errors` says which field."},
        examples=[OpenApiExample("Rename and tag", request_only=True,
                                 value={"name": "Contoso sales EU", "tags": ["sales", "eu"]}),
                  OpenApiExample("Turn on webhooks", request_only=True, value={"webhooks": {
                      "enabled": True, "callback_url": "https://hooks.example.com/dynamics",
                      "lifecycle_types": ["instance.ready", "instance.failed"]}}), ex.INSTANCE],
        tags=TAG)
    def patch(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        body = s.InstanceSettingsIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        form = _edit_form(inst, data)
        if not form.is_valid():
            raise invalid(form)
        webhooks = _endpoint_settings(inst, data["webhooks"]) if "webhooks" in data else None
        try:
            with transaction.atomic():
                actions.do_update_instance(inst, **form.changes(), acting_user=request.user)
                if webhooks is not None:
                    endpoints.do_update_endpoint(inst, **webhooks, acting_user=request.user)
        except actions.InstanceNameTaken as exc:
            raise conflict({"name": [str(exc)]}) from None
        except actions.InstanceStateError as exc:
            raise _state_conflict(exc) from None
        return Response(_detail(inst))

    @operation(
        summary="Delete an instance", operation_id="deleteInstance",
        description="As the Delete page does: its client secret, password, certificate key and tokens are "
                    "erased, its instance token stops working, its history stays in the audit log. Admins only.",
        parameters=[ID], responses={204: OpenApiResponse(description="Deleted.")}, errors=(404, 409), tags=TAG)
    def delete(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        try:
            actions.do_delete_instance(inst, acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise _state_conflict(exc) from None
        return Response(status=204)


def _edit_form(inst: Instance, data: dict) -> EditInstanceForm:
    """The Edit page's form, filled with the instance's values and the request's changes over them."""
    current = {"name": inst.name, "tags": inst.tag_list, "polling_enabled": inst.polling_enabled,
               "polling_resources": list(inst.polling_resources), "filter_nulls": inst.filter_nulls,
               "polling_interval_minutes": inst.polling_interval_minutes, "trace_logging": inst.trace_logging_on()}
    current.update({k: v for k, v in data.items() if k in current})
    current["tags"] = ", ".join(current["tags"])
    return EditInstanceForm({k: v for k, v in current.items() if v is not False}, instance=inst)


def _endpoint_settings(inst: Instance, webhooks: dict) -> dict:
    """The Events page's form over the request's webhook settings; as there, turning events off keeps
    the callback URL and the lifecycle types for next time."""
    endpoint = endpoints.endpoint_of(inst)
    values = {"callback_url": webhooks.get("callback_url", endpoint.url),
              "lifecycle_types": webhooks.get("lifecycle_types", list(endpoint.lifecycle_types or []))}
    if webhooks["enabled"]:
        values["events_enabled"] = True
    form = EndpointForm(values)
    if not form.is_valid():
        raise invalid(form, prefix="webhooks.")
    settings = form.endpoint_settings()
    if not settings["enabled"]:
        settings["url"] = settings["url"] or endpoint.url
    return settings


class InstanceDisable(ManagementView):
    @operation(summary="Disable an instance", operation_id="disableInstance",
               description="Keep-alive stops and its instance token stops being accepted; configuration and "
                           "history stay. Admins only.",
               parameters=[ID], request=s.DisableIn, responses={200: s.InstanceDetailOut}, errors=(400, 404, 409, 422),
               examples=[OpenApiExample("With a reason", request_only=True, value={"reason": "Contract ended"}),
                         ex.INSTANCE],
               tags=TAG)
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        body = s.DisableIn(data=request.data)
        body.is_valid(raise_exception=True)
        form = DisableForm(body.validated_data)
        if not form.is_valid():
            raise invalid(form)
        try:
            actions.do_disable_instance(inst, acting_user=request.user, reason=form.cleaned_data["reason"])
        except actions.InstanceStateError as exc:
            raise _state_conflict(exc) from None
        return Response(_detail(inst))


class InstancePromote(ManagementView):
    @operation(summary="Promote a rehearsed instance", operation_id="promoteInstance",
               description="Starts a new setup (a draft) for the production twin of a Ready instance rehearsed "
                           "against the sandbox or a test environment, as Promote… does on its page (409 for an "
                           "instance whose environment Dataverse reported as Production; one whose type was not "
                           "reported can be promoted): the "
                           "authentication type, the account stage and the instance settings (name with "
                           "' (production)', tags, polling, filter nulls, webhooks' callback and event types) "
                           "carry over; the draft waits at the environment stage, and the rest (environment, "
                           "directory, app and keys, permissions, authorization) is done as for any setup — in "
                           "the wizard, or for server-to-server through provisionSetup with the credentials. "
                           "The instance it makes links back (promoted_from); its webhook secret is its own. "
                           "Admins only.",
               parameters=[ID], request=None, responses={201: s.SetupDetailOut}, errors=(404, 409),
               examples=[ex.PROMOTED_SETUP], tags=TAG)
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        if inst.status != Instance.Status.READY:
            raise Problem(409, f"Only a Ready instance can be promoted; this one is {inst.get_status_display()}.")
        if inst.is_production:
            raise Problem(409, PRODUCTION_REFUSAL.format(name=inst.name))
        setup = do_start_promotion(inst, acting_user=request.user)
        return Response(s.SetupDetailOut(setup).data, status=201,
                        headers={"Location": reverse("rest:setup", args=[setup.pk])})


class InstanceEnable(ManagementView):
    @operation(summary="Enable an instance",
               operation_id="enableInstance",
               examples=[ex.INSTANCE],
               description="Keep-alive resumes. Admins only.",
               parameters=[ID], request=None, responses={200: s.InstanceDetailOut}, errors=(404, 409), tags=TAG)
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        try:
            actions.do_enable_instance(inst, acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise _state_conflict(exc) from None
        return Response(_detail(inst))


class InstanceTestConnection(ManagementView):
    @operation(summary="Test an instance's connection", operation_id="testInstanceConnection",
               examples=[ex.CONNECTION_TEST],
               description="The worker signs in with the stored credentials and asks Dataverse “Who am I?”. "
                           "The result appears in the health history (`health_url`). Admins only.",
               parameters=[ID], request=None, responses={202: s.HealthCheckRequested}, errors=(404, 409), tags=TAG)
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        try:
            since = actions.do_request_health_check(inst, acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise _state_conflict(exc) from None
        return Response({"requested_at": since, "health_url": reverse("rest:instance-health", args=[inst.pk])},
                        status=202)


class InstancePoll(ManagementView):
    @operation(summary="Poll an instance's tables now", operation_id="pollInstance", examples=[ex.POLL],
               description="The worker polls every watched table now, besides the schedule (the instance "
                           "page's Poll now); changes become `crm.<table>.*` events as usual. In real-time mode "
                           "this is a reconciliation. 409 unless the instance is Ready with polling on. Admins only.",
               parameters=[ID], request=None, responses={202: s.PollRequested}, errors=(404, 409), tags=TAG)
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        if not polling_settings.do_poll_now(inst, acting_user=request.user):
            raise Problem(409, "Polling runs only while the instance is Ready with polling on.")
        return Response({"requested_at": timezone.now(), "tables": list(inst.polling_resources or []),
                         "realtime": bool(polling_settings.realtime_tables(inst))}, status=202)


class InstanceToken(ManagementView):
    @operation(summary="Issue a new instance token", operation_id="issueInstanceToken",
               examples=[ex.TOKEN],
               description="The token applications send to `/api/v1/crm/`, in this answer; the old token "
                           "stops working at once. As on the pages, the caller can also show the new token on "
                           "the instance page until they confirm they copied it, for 24 hours at most. "
                           "Admins only.",
               parameters=[ID], request=None, responses={201: s.TokenOut}, errors=(404, 409), tags=TAG)
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        try:
            token = actions.do_issue_instance_token(inst, acting_user=request.user)
        except actions.InstanceStateError as exc:
            raise _state_conflict(exc) from None
        inst.refresh_from_db(fields=["token_prefix"])
        return Response({"token": token, "prefix": inst.token_prefix}, status=201,
                        headers={"Cache-Control": "no-store"})


class InstanceWebhookSecret(ManagementView):
    @operation(summary="Rotate the webhook signing secret", operation_id="rotateWebhookSecret",
               examples=[ex.WEBHOOK_SECRET],
               description="A new `whsec_…` secret, returned in this answer only. The old one keeps signing too "
                           "(a second signature) for 24 hours, so receivers can switch over. Admins only.",
               parameters=[ID], request=None, responses={201: s.WebhookSecretOut}, errors=(404,), tags=TAG)
    def post(self, request, instance_id):
        inst = instance_for(request, instance_id, permissions.can_change_instance)
        endpoint = endpoints.do_rotate_webhook_secret(inst, acting_user=request.user)
        return Response({"secret": str(endpoint.secret), "previous_valid_until": endpoint.previous_secret_until},
                        status=201, headers={"Cache-Control": "no-store"})
