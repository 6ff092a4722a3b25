"""Instances: working connections to a Dynamics CRM environment, and their jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from setup_portal.azure.certificates import CredentialKind
from setup_portal.azure.clouds import AuthType, Cloud
from setup_portal.crypto import EncryptedTextField
from setup_portal.teams.models import default_team_id


class Instance(models.Model):
    class Status(models.TextChoices):
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authentication"
        DISABLED = "disabled", "Disabled"
        DELETED = "deleted", "Deleted"

    class Review(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        # Edited after a change request: back with the team lead who asked.
        RESUBMITTED = "resubmitted", "Resubmitted"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Not checked"
        HEALTHY = "healthy", "Healthy"
        FAILING = "failing", "Failing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Unique within its team (Meta.constraints): a name another team took is not refused, so one
    # team never learns another's names. Indexed on its own for the dashboard's sort by name.
    name = models.CharField(max_length=100, db_index=True)
    # Stored as ",a,b," so "tag contains" is one indexed-friendly LIKE.
    tags = models.CharField(max_length=500, blank=True, default="")
    setup = models.OneToOneField("wizard.Setup", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="instance")
    # The rehearsal (sandbox or a test environment) this instance was promoted from; its
    # `promotions` are the instances set up from it for production.
    promoted_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="promotions")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="instances")
    # The setup's team: its admins change the instance, its team leads review it (teams/permissions.py).
    # Saved without one, an instance takes its setup's team, or the Default team (see save()).
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="instances")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    # Configuration, from the setup when the instance is created (the secret and password move here)
    use_sandbox = models.BooleanField(default=False)
    # Made by `seed_instances` for a demo or a benchmark: its Dynamics URL is made up, so
    # keep-alive never calls it and nobody is notified about it (events/notifications.py).
    seeded = models.BooleanField(default=False)
    dynamics_url = models.CharField(max_length=255)
    region = models.CharField(max_length=64, blank=True)
    cloud = models.CharField(max_length=16, choices=Cloud.choices, default=Cloud.PUBLIC)
    tenant = models.CharField(max_length=255)
    auth_type = models.CharField(max_length=16, choices=AuthType.choices)
    client_id = models.CharField(max_length=36, blank=True)
    client_secret = EncryptedTextField(blank=True)
    secret_hint = models.CharField(max_length=16, blank=True)
    secret_expires_on = models.DateField(null=True, blank=True, db_index=True)
    # A certificate instead of the secret (see wizard.Setup); it expires on secret_expires_on.
    credential_kind = models.CharField(max_length=16, choices=CredentialKind.choices, default=CredentialKind.SECRET)
    certificate_pem = models.TextField(blank=True)
    certificate_key = EncryptedTextField(blank=True)
    certificate_thumbprint = models.CharField(max_length=40, blank=True)
    # The next certificate during a rotation: generated here, waiting to be uploaded to the app
    # registration and verified before it replaces the current one.
    next_certificate_pem = models.TextField(blank=True)
    next_certificate_key = EncryptedTextField(blank=True)
    username = models.CharField(max_length=254, blank=True)
    password = EncryptedTextField(blank=True)
    polling_enabled = models.BooleanField(default=False)
    polling_resources = models.JSONField(default=list, blank=True)
    polling_interval_minutes = models.PositiveIntegerField(default=15)
    filter_nulls = models.BooleanField(default=True)
    # Until then the instance API keeps request and response bodies (redacted) in its call log.
    trace_until = models.DateTimeField(null=True, blank=True)

    # State
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROVISIONING, db_index=True)
    status_detail = models.TextField(blank=True)
    status_code = models.CharField(max_length=32, blank=True)
    token_cache = EncryptedTextField(blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    token_refreshed_at = models.DateTimeField(null=True, blank=True)
    token_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the instance token")
    # The token's first characters, indexed: the instance API finds the row by prefix, then
    # compares the hash in constant time.
    token_prefix = models.CharField(max_length=12, blank=True, db_index=True)
    # A new instance token, encrypted, that whoever issued it (token_reveal_to) may still show
    # until they confirm they copied it or token_reveal_until passes; then it is erased (token_reveal.py).
    token_pending_reveal = EncryptedTextField(blank=True)
    token_reveal_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    token_reveal_until = models.DateTimeField(null=True, blank=True, db_index=True)

    # What Dataverse said about us
    dataverse_user_id = models.CharField(max_length=36, blank=True)
    business_unit_id = models.CharField(max_length=36, blank=True)
    organization_id = models.CharField(max_length=36, blank=True)
    organization_name = models.CharField(max_length=200, blank=True)
    organization_version = models.CharField(max_length=32, blank=True)
    # Its OrganizationType as RetrieveCurrentOrganization reported it while provisioning, by the
    # portal's name for it (Production, Sandbox, Developer, Trial…: dataverse/client.py); blank:
    # not reported (instances provisioned before the portal recorded it).
    environment_type = models.CharField(max_length=32, blank=True)

    # Health (latest check; history in HealthCheck)
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN, db_index=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_detail = models.CharField(max_length=300, blank=True)

    # Review (latest decision; history in InstanceReview)
    review_state = models.CharField(max_length=20, choices=Review.choices, default=Review.PENDING, db_index=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)

    # Secret-expiry reminders already sent, e.g. {"2026-12-01": [30, 7]} keyed by expiry date
    reminders_sent = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Covering indexes for the dashboard's aggregates, so at 10,000 instances they read a
        # narrow index instead of every (wide, encrypted-column) row: the summary tiles, the
        # provisioning chart (day and time to Ready), and the DISTINCT list of tag strings.
        indexes = [
            models.Index(fields=["status", "health", "review_state", "secret_expires_on"],
                         name="instance_tiles_idx"),
            models.Index(fields=["created_at", "ready_at"], name="instance_chart_idx"),
            models.Index(fields=["tags"], name="instance_tags_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="instance_name_unique_per_team")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.team_id is None:
            # Code that predates teams (older tests, scripts) creates instances without one.
            self.team_id = self.setup.team_id if self.setup_id else default_team_id()
        super().save(*args, **kwargs)

    def trace_logging_on(self, now=None) -> bool:
        """Whether API calls keep their bodies now: trace logging switches itself off at trace_until."""
        return self.trace_until is not None and self.trace_until > (now or timezone.now())

    @property
    def is_production(self) -> bool:
        """Dataverse reported a production environment: there is nothing to promote it to."""
        return self.environment_type == "Production"

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]

    @property
    def status_css(self) -> str:
        return BADGE_CSS[self.status]

    @property
    def review_css(self) -> str:
        return BADGE_CSS[self.review_state]

    @property
    def health_css(self) -> str:
        return BADGE_CSS[self.health]


# The badge class of every status, review state and health value, for every page that shows
# one (the badge partials in templates/instances/ and the dashboard rows). No class: grey.
BADGE_CSS = {
    Instance.Status.PROVISIONING: "badge-info",
    Instance.Status.READY: "badge-ok",
    Instance.Status.FAILED: "badge-bad",
    Instance.Status.NEEDS_REAUTH: "badge-bad",
    Instance.Status.DISABLED: "badge-warn",
    Instance.Status.DELETED: "",
    Instance.Review.PENDING: "",
    Instance.Review.APPROVED: "badge-ok",
    Instance.Review.CHANGES_REQUESTED: "badge-warn",
    Instance.Review.RESUBMITTED: "badge-info",
    Instance.Health.UNKNOWN: "",
    Instance.Health.HEALTHY: "badge-ok",
    Instance.Health.FAILING: "badge-bad",
}


class ProvisioningJob(models.Model):
    class Kind(models.TextChoices):
        PROVISION = "provision", "Provision"
        REAUTH = "reauth", "Re-authenticate"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PROVISION)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the job until the lease runs out; the sweeper re-enqueues expired leases.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_detail = models.TextField(blank=True)
    # Started through the management API with this API key (its prefix): the job's answer hands
    # that key the instance token the job issued (issued_token_prefix), once (token_handed_over_at).
    api_key_prefix = models.CharField(max_length=16, blank=True)
    issued_token_prefix = models.CharField(max_length=12, blank=True)
    token_handed_over_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} for {self.instance_id}"


class JobStep(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    job = models.ForeignKey(ProvisioningJob, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=32)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)
    error_code = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="unique_step_per_job")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class StepAttempt(models.Model):
    """One worker's run of one step: proves no step ran twice at once, and shows retries."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned (worker lost)"

    step = models.ForeignKey(JobStep, on_delete=models.CASCADE, related_name="runs")
    worker = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    error_code = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["step", "started_at", "id"]

    def __str__(self) -> str:
        return f"{self.step_id} by {self.worker} ({self.outcome})"


class HealthCheck(models.Model):
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="health_checks")
    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ok = models.BooleanField()
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failing'} check of {self.instance_id}"


class InstanceReview(models.Model):
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decision = models.CharField(max_length=20, choices=Instance.Review.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} for {self.instance_id}"
