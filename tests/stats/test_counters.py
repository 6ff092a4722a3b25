"""The dashboard's counters match a recount after every way the portal changes instances."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from setup_portal.azure.models import Authorization
from setup_portal.dashboard import counters as readers
from setup_portal.dashboard import filters
from setup_portal.dashboard.schedule import BEAT_SCHEDULE
from setup_portal.dashboard.tasks import check_counters
from setup_portal.instances import actions, keepalive, state
from setup_portal.instances.models import Instance, JobStep, ProvisioningJob
from setup_portal.instances.provisioning import STEP_KEYS
from setup_portal.instances.tasks import provision_instance
from setup_portal.stats import counters
from setup_portal.stats.models import DailyProvisioning, StateCount, TagCount
from setup_portal.teams.models import Team
from tests.azure.provisioning import authorize_setup, create_instance, sandbox_setup
from tests.instances.factories import make_instance, sandbox_s2s_instance


def test_the_counters_know_the_deleted_status_by_its_value():
    """stats/ sits below the instances and imports none of their code: it names the status by value."""
    assert counters.DELETED == Instance.Status.DELETED


def assert_counted() -> None:
    drift = counters.check(Instance.objects.all())
    assert drift == [], "\n".join(map(str, drift))


def _job(inst: Instance, status=ProvisioningJob.Status.RUNNING) -> ProvisioningJob:
    job = ProvisioningJob.objects.create(instance=inst, status=status)
    JobStep.objects.bulk_create(JobStep(job=job, key=key, position=i) for i, key in enumerate(STEP_KEYS))
    return job


def test_a_new_instance_is_counted_where_the_dashboard_looks(alice, db):
    today = timezone.localdate()
    make_instance(alice, tags=",sales,emea,", secret_expires_on=today + dt.timedelta(days=3))
    team = Team.objects.default()
    assert StateCount.objects.get(team=team, status="ready", review_state="pending", health="unknown").n == 1
    assert set(TagCount.objects.filter(team=team).values_list("tag", "n")) == {("sales", 1), ("emea", 1)}
    assert readers.secret_counts([team.pk], today).expiring == 1
    assert DailyProvisioning.objects.get(team=team, day=today).created == 1
    assert_counted()


def test_every_action_keeps_the_counters(alice, bob, db):
    """Review, edit (tags, name), resubmit, disable, enable, re-authenticate, provisioning outcomes,
    health checks, needs-reauth, a new token, a team and owner change, delete: recounted after each."""
    inst = make_instance(alice, status=Instance.Status.PROVISIONING, tags=",sales,")
    assert_counted()
    state.mark_ready(_job(inst), acting_user=None)
    assert_counted()
    actions.do_request_changes(inst, comment="Add the production tag", acting_user=bob)
    assert_counted()
    actions.do_update_instance(inst, tags=["sales", "production"], name="contoso-prod", acting_user=alice)
    assert Instance.objects.get(pk=inst.pk).review_state == Instance.Review.RESUBMITTED
    assert_counted()
    actions.do_approve_instance(inst, acting_user=bob)
    assert_counted()
    state.record_health_check(inst.pk, ok=False, detail="503", error_code="http_503", duration_ms=5,
                              acting_user=None)
    assert_counted()
    state.record_health_check(inst.pk, ok=False, detail="expired", error_code="AADSTS700082", duration_ms=5,
                              acting_user=None)
    assert Instance.objects.get(pk=inst.pk).status == Instance.Status.NEEDS_REAUTH
    assert_counted()
    state.record_health_check(inst.pk, ok=True, detail="ok", duration_ms=5, acting_user=None)
    assert_counted()
    actions.do_disable_instance(inst, acting_user=alice, reason="paused")
    assert_counted()
    actions.do_enable_instance(inst, acting_user=alice)
    assert_counted()
    assert state.mark_needs_reauth(inst.pk, code="AADSTS50173", acting_user=None)
    assert_counted()
    authorization = Authorization.objects.create(instance=inst, user=alice, token_cache="{cache}")
    job = actions.do_reauthenticate_instance(inst, authorization=authorization, acting_user=alice)
    assert_counted()
    state.mark_provisioning_failed(job, step="whoami", step_label="Who am I", error_code="dataverse_403",
                                   detail="no application user", acting_user=None)
    assert_counted()
    job.status = ProvisioningJob.Status.FAILED
    job.save(update_fields=["status"])
    actions.do_retry_job(job, acting_user=alice)
    assert_counted()
    state.mark_ready(job, acting_user=None)
    actions.do_issue_instance_token(inst, acting_user=alice)
    assert_counted()
    inst = state.locked(inst.pk)
    inst.team, inst.owner = Team.objects.create(name="Field sales"), bob
    state.transition(inst, "instance.moved", acting_user=alice, also_save=["team", "owner"])
    assert_counted()
    actions.do_delete_instance(inst, acting_user=alice)
    assert_counted()


def test_creating_provisioning_rotating_and_keep_alive_against_the_sandbox(alice, clean_sandbox, db):
    """The real paths: an instance created from an authorized setup, provisioned (the worker's task,
    run here), its secret rotated at Azure AD, keep-alive's health check and token refresh."""
    clean_sandbox.reset()
    setup = sandbox_setup(alice, clean_sandbox, "s2s", client_id=clean_sandbox.info["s2s_client_id"],
                          client_secret=clean_sandbox.info["s2s_client_secret"],
                          secret_expires_on=timezone.localdate() + dt.timedelta(days=20))
    authorize_setup(setup, clean_sandbox)
    job = create_instance(setup)
    assert_counted()
    assert provision_instance(job.pk) == "ready"
    assert_counted()
    inst = Instance.objects.get(pk=job.instance_id)
    new = clean_sandbox.add_secret(clean_sandbox.info["s2s_client_id"], days=365)
    actions.do_rotate_client_secret(inst, new_secret=new["value"], acting_user=alice,
                                    expires_on=timezone.localdate() + dt.timedelta(days=365))
    assert_counted()
    keepalive.check_health(str(inst.pk))
    keepalive.refresh_token(str(inst.pk))
    assert_counted()
    other = sandbox_s2s_instance(alice, clean_sandbox.info, tags=",sales,")
    actions.do_delete_instance(other, acting_user=alice)
    assert_counted()


def test_secret_tiles_follow_the_calendar_without_a_recount(alice, db):
    """Counted by expiry day, the tiles stay right as days pass: compare with the rows' own filters."""
    today = timezone.localdate()
    for days in (-40, -2, 0, 3, 7, 8, 29, 30, 31, 60, None):
        make_instance(alice, secret_expires_on=today + dt.timedelta(days=days) if days is not None else None)
    make_instance(alice, status=Instance.Status.DELETED, secret_expires_on=today)
    for later in range(0, 45, 4):
        day = today + dt.timedelta(days=later)
        got = readers.secret_counts(None, day)
        live = Instance.objects.exclude(status=Instance.Status.DELETED)
        assert got.expired == live.filter(secret_expires_on__lt=day).count()
        assert got.expiring == live.filter(secret_expires_on__gte=day,
                                           secret_expires_on__lte=day + dt.timedelta(days=30)).count()
        week = filters.matching({"secret": "week"}, today=day).count()
        assert got.within_week == week


def test_seeding_fills_the_counters(db):
    """With history for the first 100, the rest as rows only (COPY on PostgreSQL)."""
    call_command("seed_instances", 300, "--teams", "3", "--history", "100", stdout=io.StringIO())
    assert Instance.objects.values("team").distinct().count() == 3
    assert ProvisioningJob.objects.count() == 100
    assert_counted()
    seeded = Instance.objects.exclude(client_secret="").exclude(jobs__isnull=False).first()
    assert seeded.client_secret.startswith(("a", "b", "c", "d", "e", "f", "g", "h"))  # decrypts


def test_check_counters_reports_and_repairs_drift(alice, db):
    inst = make_instance(alice, tags=",sales,")
    call_command("check_counters", stdout=io.StringIO())
    # A writer that bypasses state.transition() (what tests/stats/test_writers.py forbids):
    Instance.objects.filter(pk=inst.pk).update(tags=",finance,", status=Instance.Status.FAILED)
    out = io.StringIO()
    with pytest.raises(CommandError, match="differ from a recount"):
        call_command("check_counters", stdout=out)
    assert "TagCount" in out.getvalue() and "finance" in out.getvalue()
    call_command("check_counters", "--repair", stdout=io.StringIO())
    assert_counted()
    assert readers.tag_choices(None) == ["finance"]


def test_the_nightly_task_repairs(alice, db):
    assert BEAT_SCHEDULE["stats-check-counters"]["task"] == check_counters.name
    inst = make_instance(alice)
    Instance.objects.filter(pk=inst.pk).update(health=Instance.Health.FAILING)
    assert check_counters() == 2  # one state row too many, one too few
    assert check_counters() == 0
