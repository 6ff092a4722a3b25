"""What the management API answers with, and the bodies it takes.

Output serializers are read-only views of the models (no secret, token or token cache is ever
among their fields). Input serializers check JSON types only; the rules (names, tags, polling,
callback URLs, credentials) are the pages' own forms, which the views run afterwards.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from setup_portal.azure.certificates import MAX_UPLOAD_BYTES, Certificate, CredentialKind
from setup_portal.azure.clouds import AuthType, Cloud
from setup_portal.crm.resources import RESOURCES
from setup_portal.dashboard.filters import SECRET_CHOICES, SORTS
from setup_portal.events.models import LifecycleType
from setup_portal.instances import polled_tables
from setup_portal.instances.models import Instance, JobStep, ProvisioningJob
from setup_portal.instances.provisioning import STEP_LABELS
from setup_portal.wizard.models import Setup

from .fields import Base64FileField, StrictBooleanField, StrictCharField, StrictChoiceField, StrictIntegerField

RESOURCE_KEYS = list(RESOURCES)


class Problem(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="A tag URI naming the kind of problem.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(help_text="The path that was called.")
    code = serializers.CharField(required=False, help_text="Azure AD's or Dataverse's error code, when one applies.")
    fix = serializers.CharField(required=False)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="Per field: what is wrong with its value.")
    wizard_url = serializers.CharField(required=False)
    request_id = serializers.CharField(required=False, help_text="The request's id, as in its X-Request-ID header.")


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


class Webhooks(serializers.Serializer):
    enabled = serializers.BooleanField()
    callback_url = serializers.CharField(source="url")
    lifecycle_types = serializers.ListField(child=serializers.CharField())
    disabled_reason = serializers.CharField()


class InstanceOut(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    name = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), source="tag_list")
    status = serializers.ChoiceField(choices=Instance.Status.choices)
    status_detail = serializers.CharField()
    status_code = serializers.CharField()
    review_state = serializers.ChoiceField(choices=Instance.Review.choices)
    reviewed_by = serializers.SerializerMethodField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    review_comment = serializers.CharField()
    health = serializers.ChoiceField(choices=Instance.Health.choices)
    health_checked_at = serializers.DateTimeField(allow_null=True)
    health_detail = serializers.CharField()
    owner = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)
    dynamics_url = serializers.CharField()
    region = serializers.CharField()
    cloud = serializers.ChoiceField(choices=Cloud.choices)
    tenant = serializers.CharField()
    auth_type = serializers.ChoiceField(choices=AuthType.choices)
    client_id = serializers.CharField()
    credential_kind = serializers.ChoiceField(choices=CredentialKind.choices)
    certificate_thumbprint = serializers.CharField(help_text="The certificate's SHA-1 thumbprint as Entra lists it; "
                                                             "empty with a client secret.")
    organization_name = serializers.CharField()
    environment_type = serializers.CharField(help_text="Dataverse's OrganizationType as RetrieveCurrentOrganization "
                                                       "reported it at provisioning (Production, Sandbox, Developer, "
                                                       "Trial, …); empty when never reported. Promote refuses "
                                                       "Production.")
    secret_expires_on = serializers.DateField(allow_null=True)
    access_token_expires_at = serializers.DateTimeField(allow_null=True)
    polling_enabled = serializers.BooleanField()
    polling_resources = serializers.ListField(child=serializers.CharField())
    polling_interval_minutes = serializers.IntegerField()
    filter_nulls = serializers.BooleanField()
    trace_logging = serializers.SerializerMethodField()
    trace_until = serializers.DateTimeField(allow_null=True)

    def get_url(self, inst) -> str:
        return reverse("rest:instance", args=[inst.pk])

    def get_reviewed_by(self, inst) -> str | None:
        return _username(inst.reviewed_by)

    def get_owner(self, inst) -> str:
        return inst.owner.get_username()

    def get_trace_logging(self, inst) -> bool:
        return inst.trace_logging_on()


class PollingTable(serializers.Serializer):
    name = serializers.CharField(help_text="What `polling_resources` takes: a friendly resource (accounts, …) or a "
                                           "table's logical name; events are crm.<name>.created|updated|deleted.")
    label = serializers.CharField()


class InstanceDetailOut(InstanceOut):
    webhooks = serializers.SerializerMethodField()
    polling_tables = serializers.SerializerMethodField(
        help_text="What polling offers: the seven friendly resources and every change-tracked table of the "
                  "environment's metadata (custom ones included), read once when none is stored.")
    jobs_url = serializers.SerializerMethodField()
    health_url = serializers.SerializerMethodField()
    reviews_url = serializers.SerializerMethodField()

    def get_webhooks(self, inst) -> Webhooks | None:
        endpoint = getattr(inst, "webhook_endpoint", None)
        return Webhooks(endpoint).data if endpoint is not None else None

    def get_polling_tables(self, inst) -> list[dict]:
        return [{"name": name, "label": label}
                for name, label in polled_tables.choices(inst, keep=list(inst.polling_resources or []))]

    def get_jobs_url(self, inst) -> str:
        return reverse("rest:instance-jobs", args=[inst.pk])

    def get_health_url(self, inst) -> str:
        return reverse("rest:instance-health", args=[inst.pk])

    def get_reviews_url(self, inst) -> str:
        return reverse("rest:instance-reviews", args=[inst.pk])


# drf-spectacular reads the method's return annotation; a serializer class there means "this shape".
InstanceDetailOut.get_webhooks.__annotations__["return"] = Webhooks(allow_null=True)
InstanceDetailOut.get_polling_tables.__annotations__["return"] = PollingTable(many=True)


class StepOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.SerializerMethodField()
    position = serializers.IntegerField()
    status = serializers.ChoiceField(choices=JobStep.Status.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    detail = serializers.CharField()
    error_code = serializers.CharField()

    def get_label(self, step) -> str:
        return STEP_LABELS.get(step.key, step.key.replace("_", " ").capitalize())


class JobOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    instance = serializers.UUIDField(source="instance_id")
    instance_url = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=ProvisioningJob.Kind.choices)
    status = serializers.ChoiceField(choices=ProvisioningJob.Status.choices)
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    error_code = serializers.CharField()
    error_detail = serializers.CharField()
    steps = StepOut(many=True)

    def get_url(self, job) -> str:
        return reverse("rest:job", args=[job.pk])

    def get_instance_url(self, job) -> str:
        return reverse("rest:instance", args=[job.instance_id])

    def get_created_by(self, job) -> str | None:
        return _username(job.created_by)


class JobResultOut(JobOut):
    instance_token = serializers.CharField(
        allow_null=True,
        help_text="The instance token this provisioning job issued: in the first answer after the job has "
                  "succeeded, to the API key that started the job, and in no other answer (null). Its owner "
                  "can still show it on the instance page until they confirm they copied it, for 24 hours "
                  "at most.")


class HealthCheckOut(serializers.Serializer):
    checked_at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    duration_ms = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()
    error_code = serializers.CharField()
    triggered_by = serializers.SerializerMethodField()

    def get_triggered_by(self, check) -> str | None:
        return _username(check.triggered_by)


class ReviewOut(serializers.Serializer):
    id = serializers.IntegerField()
    decision = serializers.ChoiceField(choices=Instance.Review.choices)
    comment = serializers.CharField()
    reviewer = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)

    def get_reviewer(self, review) -> str | None:
        return _username(review.reviewer)


class StageRecordOut(serializers.Serializer):
    stage = serializers.CharField()
    valid = serializers.BooleanField()
    user = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField(allow_null=True)
    invalidated_at = serializers.DateTimeField(allow_null=True)
    messages = serializers.ListField(child=serializers.CharField())

    def get_user(self, record) -> str | None:
        return _username(record.user)


class SetupOut(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    wizard_url = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Setup.Status.choices)
    current_stage = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    dynamics_url = serializers.CharField()
    tenant = serializers.CharField()
    cloud = serializers.ChoiceField(choices=Cloud.choices)
    auth_type = serializers.ChoiceField(choices=AuthType.choices)
    authorized_at = serializers.DateTimeField(allow_null=True)
    instance = serializers.SerializerMethodField()

    def get_url(self, setup) -> str:
        return reverse("rest:setup", args=[setup.pk])

    def get_wizard_url(self, setup) -> str:
        return reverse("wizard:resume", args=[setup.pk])

    def get_owner(self, setup) -> str:
        return setup.owner.get_username()

    def get_instance(self, setup) -> str | None:
        inst = getattr(setup, "instance", None)
        return reverse("rest:instance", args=[inst.pk]) if inst is not None else None


class SetupDetailOut(SetupOut):
    stages = serializers.SerializerMethodField()

    def get_stages(self, setup) -> list[dict]:
        return StageRecordOut(setup.stage_records.select_related("user").order_by("completed_at", "id"),
                              many=True).data


SetupDetailOut.get_stages.__annotations__["return"] = StageRecordOut(many=True)


class AuditEventOut(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_label")
    verb = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_label = serializers.CharField()
    data = serializers.DictField()


def page_of(item: serializers.Serializer, name: str) -> serializers.Serializer:
    """The shape of one page of a cursor-paginated list of `item`."""
    return type(name, (serializers.Serializer,), {
        "results": item.__class__(many=True),
        "next": serializers.CharField(allow_null=True, help_text="The next page's URL; null on the last page."),
        "previous": serializers.CharField(allow_null=True, help_text="The previous page's URL; null on the first."),
    })()


# Inputs ----------------------------------------------------------------------------------------

class WebhooksIn(serializers.Serializer):
    enabled = StrictBooleanField()
    callback_url = StrictCharField(required=False, allow_blank=True, max_length=2000)
    lifecycle_types = serializers.ListField(child=StrictChoiceField(choices=LifecycleType.values), required=False,
                                            max_length=len(LifecycleType.values))


class InstanceSettingsIn(serializers.Serializer):
    """The settings of an instance: the Edit page's fields and the events page's."""

    name = StrictCharField(required=False, max_length=100)
    tags = serializers.ListField(child=StrictCharField(max_length=50), required=False, max_length=20)
    polling_enabled = StrictBooleanField(required=False)
    # Any name of the instance's `polling_tables`: the Edit page's form checks it (422 otherwise).
    polling_resources = serializers.ListField(child=StrictCharField(max_length=100), required=False,
                                              max_length=500)
    polling_interval_minutes = StrictIntegerField(required=False, min_value=1, max_value=1440)
    filter_nulls = StrictBooleanField(required=False)
    trace_logging = StrictBooleanField(required=False)
    webhooks = WebhooksIn(required=False)


class CertificateIn(serializers.Serializer):
    """A certificate the caller brings, as the Keys stage and the rotate page take it."""

    certificate = Base64FileField(max_bytes=MAX_UPLOAD_BYTES, required=False, write_only=True,
                                  help_text="The file's bytes, base64: a .pem with the certificate and its private "
                                            "key, or a .pfx. An RSA key of at least 2048 bits, valid now.")
    certificate_password = StrictCharField(required=False, max_length=256, write_only=True,
                                           help_text="Only for a .pfx or an encrypted private key.")


class CredentialsIn(CertificateIn):
    credential_kind = StrictChoiceField(choices=CredentialKind.choices, required=False, default=CredentialKind.SECRET,
                                        help_text="How the app proves itself (s2s, oauth2): a client secret, or a "
                                                  "certificate (`certificate`, or `generate`).")
    client_id = StrictCharField(required=False, max_length=100)
    client_secret = StrictCharField(required=False, max_length=1024, write_only=True)
    secret_expires_on = serializers.DateField(required=False)
    generate = StrictBooleanField(required=False, default=False,
                                  help_text="With `credential_kind` certificate and no `certificate`: the portal "
                                            "makes a key pair and answers 201 with the public certificate to "
                                            "upload to the app registration, then `provision_url` finishes.")
    username = StrictCharField(required=False, max_length=254)
    password = StrictCharField(required=False, max_length=256, write_only=True)


class InstanceCreateIn(serializers.Serializer):
    team = StrictIntegerField(required=False, min_value=1, help_text="The team it belongs to (its id): "
                              "required when the caller is an admin of several teams, as the wizard asks.")
    auth_type = StrictChoiceField(choices=AuthType.choices)
    dynamics_url = StrictCharField(max_length=2048)
    tenant = StrictCharField(max_length=300)
    cloud = StrictChoiceField(choices=Cloud.choices, required=False, default=Cloud.PUBLIC)
    multi_tenant = StrictBooleanField(required=False, default=False)
    credentials = CredentialsIn(required=False)
    name = StrictCharField(max_length=100)
    tags = serializers.ListField(child=StrictCharField(max_length=50), required=False, max_length=20)
    polling_enabled = StrictBooleanField(required=False, default=False)
    polling_resources = serializers.ListField(child=StrictChoiceField(choices=RESOURCE_KEYS), required=False,
                                              max_length=len(RESOURCE_KEYS))
    polling_interval_minutes = StrictIntegerField(required=False, min_value=1, max_value=1440)
    filter_nulls = StrictBooleanField(required=False, default=True)
    webhooks = WebhooksIn(required=False)


class ReviewIn(serializers.Serializer):
    comment = StrictCharField(required=False, allow_blank=True, max_length=2000)


class RequestChangesIn(serializers.Serializer):
    comment = StrictCharField(max_length=2000, help_text="What should change, so the owner knows what to do.")


class DisableIn(serializers.Serializer):
    reason = StrictCharField(required=False, allow_blank=True, max_length=300)


class TokenOut(serializers.Serializer):
    token = serializers.CharField(help_text="The new instance token. Shown this once; the old one stops working now.")
    prefix = serializers.CharField()


class HealthCheckRequested(serializers.Serializer):
    requested_at = serializers.DateTimeField()
    health_url = serializers.CharField()


class PollRequested(serializers.Serializer):
    requested_at = serializers.DateTimeField()
    tables = serializers.ListField(child=serializers.CharField(), help_text="The tables the poll reads.")
    realtime = serializers.BooleanField(help_text="Whether Dataverse also pushes this instance's changes "
                                                  "(then polling reconciles).")


class ProvisioningStarted(serializers.Serializer):
    instance = serializers.UUIDField()
    instance_url = serializers.CharField()
    job = serializers.IntegerField()
    job_url = serializers.CharField()


class CertificateOut(serializers.Serializer):
    """The public part of a certificate: what to upload under Certificates & secrets → Certificates."""

    thumbprint = serializers.CharField(help_text="SHA-1, upper-case hex, as Entra lists it.")
    certificate_pem = serializers.CharField(help_text="The public certificate (PEM); save it as a .cer or .pem "
                                                      "file to upload. Never the private key.")
    expires_on = serializers.DateField()
    subject = serializers.CharField()


class CertificateToUpload(serializers.Serializer):
    setup = serializers.UUIDField()
    setup_url = serializers.CharField()
    certificate = CertificateOut()
    provision_url = serializers.CharField(help_text="POST the same body here (without `generate`) once the "
                                                    "certificate is in the app registration.")


def certificate_out(certificate: Certificate) -> dict:
    return {"thumbprint": certificate.thumbprint, "certificate_pem": certificate.certificate_pem,
            "expires_on": certificate.expires_on, "subject": certificate.subject}


class WizardContinues(serializers.Serializer):
    setup = serializers.UUIDField()
    setup_url = serializers.CharField()
    wizard_url = serializers.CharField(help_text="Open it in a browser to sign in with Microsoft and finish.")


INSTANCE_SORTS = sorted({*SORTS, *(f"-{key}" for key in SORTS)})
SECRET_FILTERS = [value for value, _ in SECRET_CHOICES if value]


class WebhookSecretOut(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret. Shown this once.")
    previous_valid_until = serializers.DateTimeField(allow_null=True)
