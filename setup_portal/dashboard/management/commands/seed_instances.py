"""`python manage.py seed_instances N [--teams T] [--owner USER]`: realistic instances for demos and benchmarks.

Instances are spread round-robin over T teams (the Default team when T is 1), each with a demo
admin and team lead unless they have members already. The first HISTORY_LIMIT instances of a run
get their history too (jobs, steps, health checks, reviews, audit events, a few wizard setups),
written with bulk_create; the rest are instance rows only, written with COPY on PostgreSQL (a
million in minutes) and bulk_create elsewhere. The dashboard's counters are added batch by batch
from the same values, in the same transaction. Seeded instances are marked (seeded=True): their
Dynamics URLs are made up, so keep-alive never checks them and nobody is notified about them. They
point at the sandbox tenant too (use_sandbox=True): if anything ever touches them, nothing leaves
the machine.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from setup_portal.audit.models import AuditEvent
from setup_portal.crypto import EncryptedTextField, mask
from setup_portal.instances.models import HealthCheck, Instance, InstanceReview, JobStep, ProvisioningJob
from setup_portal.instances.provisioning import STEP_KEYS
from setup_portal.stats import counters
from setup_portal.teams.models import Membership, Team
from setup_portal.teams.roles import ensure_roles, set_role
from setup_portal.wizard.models import Setup, StageRecord
from setup_portal.wizard.stages import STAGES

COMPANIES = ["contoso", "fabrikam", "northwind", "adventureworks", "tailspin", "wingtip", "litware", "proseware",
             "fourthcoffee", "woodgrove", "alpineski", "margies", "relecloud", "lamna", "trey"]
TEAMS = ["sales", "service", "marketing", "field", "finance", "partners", "support", "ops"]
ENVS = ["prod", "uat", "dev", "test", "staging"]
REGIONS = [("crm", "North America"), ("crm4", "EMEA"), ("crm11", "United Kingdom"),
           ("crm5", "Asia Pacific"), ("crm3", "Canada"), ("crm6", "Oceania"), ("crm12", "France"),
           ("crm16", "Germany"), ("crm2", "South America")]
TAGS = ["sales", "service", "marketing", "finance", "emea", "apac", "americas", "pilot", "production", "staging"]
STATUSES = [(Instance.Status.READY, 70), (Instance.Status.PROVISIONING, 3), (Instance.Status.FAILED, 6),
            (Instance.Status.NEEDS_REAUTH, 6), (Instance.Status.DISABLED, 9), (Instance.Status.DELETED, 6)]
AUTH_TYPES = [("oauth2", 60), ("s2s", 30), ("custom", 10)]
FAILURES = [("AADSTS7000215", "Azure AD refused the client secret: the secret ID was pasted instead of its value."),
            ("AADSTS65001", "Nobody has consented to the app using Dynamics CRM yet."),
            ("dataverse_403", "Dataverse answered 403: the app has no application user in this environment."),
            ("AADSTS50011", "The redirect URI does not match the app registration.")]
REAUTH = [("AADSTS700082", "The refresh token expired after 90 days without use. Sign in again (Re-authenticate)."),
          ("AADSTS7000222", "The client secret expired. Create a new one in Azure AD and rotate it here.")]


def _pick(rng: random.Random, weighted: list[tuple]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


@contextmanager
def _explicit_timestamps(*fields):
    """Let bulk_create keep the historical dates we set instead of auto_now_add's "now"."""
    saved = [(f, f.auto_now_add) for f in fields]
    for f, _ in saved:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in saved:
            f.auto_now_add = value


TEAM_NAMES = ["Sales EMEA", "Sales Americas", "Sales APAC", "Customer service", "Field service", "Marketing",
              "Finance", "Partners", "Support", "Operations", "Commerce", "Retail", "Public sector", "Healthcare",
              "Manufacturing", "Energy", "Education", "Insurance", "Banking", "Logistics"]
HISTORY_LIMIT = 10_000
BATCH = 1000
MAX_SQLITE, MAX_POSTGRESQL = 200_000, 2_000_000


class Command(BaseCommand):
    help = "Create N realistic instances (statuses, tags, expiries, jobs, health, reviews, audit) for demos."

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--owner", help="Username owning every instance (default: each team's demo admins)")
        parser.add_argument("--teams", type=int, default=1,
                            help="Spread the instances over this many teams (1: the Default team)")
        parser.add_argument("--history", type=int, default=HISTORY_LIMIT,
                            help=f"How many of them get jobs, checks, reviews and audit events (default "
                                 f"{HISTORY_LIMIT:,}); the rest are instance rows only")
        parser.add_argument("--seed", type=int, default=42, help="Random seed, for repeatable data")

    def handle(self, *args, count: int, owner: str | None, teams: int, history: int, seed: int, **options):
        limit = MAX_POSTGRESQL if connection.vendor == "postgresql" else MAX_SQLITE
        if count < 1 or count > limit:
            raise CommandError(f"N must be between 1 and {limit:,} on this database.")
        if not 1 <= teams <= len(TEAM_NAMES):
            raise CommandError(f"--teams must be between 1 and {len(TEAM_NAMES)}.")
        started = time.monotonic()
        crews = self._crews(teams, owner)
        with transaction.atomic(), _explicit_timestamps(
                Instance._meta.get_field("created_at"), ProvisioningJob._meta.get_field("created_at"),
                HealthCheck._meta.get_field("checked_at"), AuditEvent._meta.get_field("created_at"),
                InstanceReview._meta.get_field("created_at"), StageRecord._meta.get_field("completed_at")):
            made = Seeder(random.Random(seed), crews, history=history).run(count)
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {made:,} instances in {len(crews)} team(s) in {time.monotonic() - started:.1f} s."))

    def _crews(self, count: int, owner: str | None) -> list[Crew]:
        ensure_roles()
        found = None
        if owner:
            found = get_user_model().objects.filter(username=owner).first()
            if found is None:
                raise CommandError(f"No user named {owner!r}.")
        teams = [Team.objects.default()] if count == 1 else [Team.objects.get_or_create(name=name)[0]
                                                             for name in TEAM_NAMES[:count]]
        crews = []
        for team in teams:
            slug = "" if count == 1 else slugify(team.name) + "-"
            admins = [found] if found else (
                _members(team, Membership.Role.ADMIN)
                or [_demo_user(f"{slug}{n}", "admin", team) for n in ("ana", "ben", "chloe")])
            leads = _members(team, Membership.Role.TEAM_LEAD) or [_demo_user(f"{slug}tess", "teamlead", team)]
            crews.append(Crew(team.pk, admins, leads))
        return crews


@dataclass(frozen=True)
class Crew:
    """A team, the admins who own its instances and the team leads who review them."""

    team_id: int
    owners: list
    leads: list


def _members(team: Team, role: str) -> list:
    return [m.user for m in Membership.objects.filter(team=team, role=role).select_related("user")[:5]]


def _demo_user(username: str, role: str, team: Team):
    user, created = get_user_model().objects.get_or_create(username=username,
                                                           defaults={"email": f"{username}@example.com"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    set_role(user, role, team)
    return user


class Seeder:
    def __init__(self, rng: random.Random, crews: list[Crew], *, history: int = HISTORY_LIMIT):
        self.rng, self.crews, self.history = rng, crews, history
        self.users = {u.pk: u for crew in crews for u in [*crew.owners, *crew.leads]}
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.taken = set(Instance.objects.values_list("team_id", "name"))  # names are unique per team
        # One encryption per distinct value, not per row: Fernet is the slow part.
        self.secret_values = [f"{rng.choice('abcdefgh')}Q8~{uuid.UUID(int=rng.getrandbits(128)).hex[:30]}"
                              for _ in range(8)]
        self.made = 0

    def run(self, count: int) -> int:
        copy = connection.vendor == "postgresql"
        while self.made < count:
            size = min(BATCH, count - self.made)
            if self.made < self.history:  # a batch is all history or all rows
                size = min(size, self.history - self.made)
            values = [self._values(self.made + i) for i in range(size)]
            if self.made < self.history:
                self._with_history([Instance(**v) for v in values])
            elif copy:
                self._copy(values)
            else:
                Instance.objects.bulk_create([Instance(**v) for v in values], batch_size=500)
            counters.add_rows({field: v.get(field, COUNTED_DEFAULTS.get(field)) for field in counters.ROW_FIELDS}
                              for v in values)
            self.made += size
        return self.made

    def _copy(self, values: list[dict]) -> None:
        """COPY the rows in (PostgreSQL): every column given, encrypted ones encrypted once per value."""
        columns, defaults, encrypted, as_json = _copy_layout()
        q = connection.ops.quote_name
        sql = f"COPY {q(Instance._meta.db_table)} ({', '.join(q(c) for c in columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in values:
                out = {**defaults, **row}
                for column in encrypted:
                    if out[column]:
                        out[column] = _encrypted(column, str(out[column]))
                for column in as_json:
                    out[column] = json.dumps(out[column])
                copy.write_row([out[c] for c in columns])

    def _name(self, team_id: int) -> str:
        rng = self.rng
        while True:
            name = f"{rng.choice(COMPANIES)}-{rng.choice(TEAMS)}-{rng.choice(ENVS)}-{rng.randrange(1000, 9999)}"
            if (team_id, name) not in self.taken:
                self.taken.add((team_id, name))
                return name

    def _values(self, i: int) -> dict:
        """One instance's column values (attnames), the rest left to the model's defaults."""
        rng = self.rng
        crew = self.crews[i % len(self.crews)]
        status = _pick(rng, STATUSES)
        auth = _pick(rng, AUTH_TYPES)
        host, region = rng.choice(REGIONS)
        name = self._name(crew.team_id)
        org = name.rsplit("-", 1)[0].replace("-", "")[:20] + name[-4:]
        created = self.now - dt.timedelta(days=rng.triangular(0, 120, 5), seconds=rng.randrange(86400))
        tags = sorted(set(rng.sample(TAGS, rng.choice([0, 1, 1, 2, 2, 3]))))
        v = {
            "id": uuid.UUID(int=rng.getrandbits(128), version=4), "name": name, "team_id": crew.team_id,
            "owner_id": rng.choice(crew.owners).pk, "created_at": created, "updated_at": created,
            "use_sandbox": True, "seeded": True, "dynamics_url": f"https://{org}.{host}.dynamics.com", "region": region,
            "tenant": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "auth_type": auth, "status": status,
            "tags": "," + ",".join(tags) + "," if tags else "",
            "polling_enabled": rng.random() < 0.4, "polling_resources": ["accounts", "contacts"],
            "organization_name": org.capitalize(), "organization_version": "9.2.24101.00185",
        }
        if auth == "custom":
            v["username"] = f"svc-portal@{org}.onmicrosoft.com"
        else:
            v["client_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            secret = rng.choice(self.secret_values)
            v["client_secret"], v["secret_hint"] = secret, mask(secret)
            v["secret_expires_on"] = self.today + dt.timedelta(days=self._secret_days())
        if status not in {Instance.Status.PROVISIONING, Instance.Status.FAILED}:
            v["ready_at"] = self._after(created, dt.timedelta(seconds=rng.lognormvariate(1.2, 0.5)))
            v["dataverse_user_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if status == Instance.Status.READY:
            v["access_token_expires_at"] = self.now + dt.timedelta(minutes=rng.randrange(-20, 75))
            v["token_refreshed_at"] = v["access_token_expires_at"] - dt.timedelta(minutes=75)
            failing = rng.random() < 0.08
            v["health"] = Instance.Health.FAILING if failing else Instance.Health.HEALTHY
            v["health_detail"] = "Dataverse answered 503: service unavailable" if failing else "WhoAmI answered."
            v["health_checked_at"] = self.now - dt.timedelta(minutes=rng.randrange(1, 70))
        elif status == Instance.Status.NEEDS_REAUTH:
            v["status_code"], v["status_detail"] = rng.choice(REAUTH)
            v["health"], v["health_detail"] = Instance.Health.FAILING, "Azure AD refused the saved sign-in."
            v["health_checked_at"] = self.now - dt.timedelta(hours=rng.randrange(1, 48))
        elif status == Instance.Status.FAILED:
            v["status_code"], v["status_detail"] = rng.choice(FAILURES)
        elif status == Instance.Status.DELETED:
            v["client_secret"] = v["secret_hint"] = ""
            v["status_detail"] = "Deleted: its credentials and tokens were erased."
        if status != Instance.Status.PROVISIONING:
            review = rng.choices(["approved", "pending", "changes_requested"], weights=[55, 35, 10])[0]
            v["review_state"] = review
            if review != "pending":
                v["reviewed_by_id"] = rng.choice(crew.leads).pk
                v["reviewed_at"] = self._after(created, dt.timedelta(hours=rng.randrange(1, 72)))
                v["review_comment"] = ("Looks good." if review == "approved"
                                       else "Please add the 'production' tag and a shorter secret lifetime.")
        return v

    def _after(self, start: dt.datetime, wanted: dt.timedelta) -> dt.datetime:
        """`wanted` after `start`, or earlier if that is still to come: a seeded history has happened
        (an instance created an hour ago was not reviewed 30 hours after it)."""
        return start + min(wanted, (self.now - start) * self.rng.uniform(0.2, 0.9))

    def _secret_days(self) -> int:
        roll = self.rng.random()
        if roll < 0.05:
            return -self.rng.randrange(1, 60)
        if roll < 0.10:
            return self.rng.randrange(0, 8)
        if roll < 0.20:
            return self.rng.randrange(8, 31)
        return self.rng.randrange(31, 720)

    def _with_history(self, instances: list[Instance]) -> None:
        Instance.objects.bulk_create(instances, batch_size=500)
        jobs, steps_for, checks, events, reviews = [], [], [], [], []
        for inst in instances:
            job, outcome = self._job(inst)
            jobs.append(job)
            steps_for.append(outcome)
            checks.extend(self._checks(inst))
            events.extend(self._events(inst))
            if inst.reviewed_by_id:
                reviews.append(InstanceReview(instance=inst, reviewer_id=inst.reviewed_by_id,
                                              decision=inst.review_state, comment=inst.review_comment,
                                              created_at=inst.reviewed_at,
                                              resolved_at=inst.reviewed_at if inst.review_state == "approved"
                                              else None))
        ProvisioningJob.objects.bulk_create(jobs, batch_size=500)
        steps = [step for job, outcome in zip(jobs, steps_for, strict=True) for step in self._steps(job, outcome)]
        JobStep.objects.bulk_create(steps, batch_size=1000)
        HealthCheck.objects.bulk_create(checks, batch_size=1000)
        AuditEvent.objects.bulk_create(events, batch_size=1000)
        InstanceReview.objects.bulk_create(reviews, batch_size=1000)
        self._setups([i for i in instances if i.status != Instance.Status.DELETED][:20])

    def _job(self, inst: Instance) -> tuple[ProvisioningJob, str]:
        start = inst.created_at + dt.timedelta(seconds=0.2)
        if inst.status == Instance.Status.PROVISIONING:
            return ProvisioningJob(instance=inst, status="running", created_by_id=inst.owner_id,
                                   created_at=inst.created_at, started_at=start, attempts=1), "running"
        if inst.status == Instance.Status.FAILED:
            return ProvisioningJob(instance=inst, status="failed", created_by_id=inst.owner_id,
                                   created_at=inst.created_at, started_at=start, attempts=1,
                                   finished_at=start + dt.timedelta(seconds=self.rng.uniform(1, 20)),
                                   error_code=inst.status_code, error_detail=inst.status_detail), "failed"
        return ProvisioningJob(instance=inst, status="succeeded", created_by_id=inst.owner_id,
                               created_at=inst.created_at, started_at=start, finished_at=inst.ready_at,
                               attempts=1), "succeeded"

    def _steps(self, job: ProvisioningJob, outcome: str) -> list[JobStep]:
        rng, steps = self.rng, []
        fail_at = rng.randrange(0, 4) if outcome == "failed" else None
        run_at = rng.randrange(1, len(STEP_KEYS)) if outcome == "running" else None
        at = job.started_at
        for pos, key in enumerate(STEP_KEYS):
            took = dt.timedelta(milliseconds=rng.randrange(40, 900))
            if fail_at is not None and pos > fail_at or run_at is not None and pos > run_at:
                status, start, end = "pending", None, None
            elif pos == fail_at:
                status, start, end = "failed", at, at + took
            elif pos == run_at:
                status, start, end = "running", at, None
            else:
                status, start, end = "succeeded", at, at + took
            steps.append(JobStep(job=job, key=key, position=pos, status=status, started_at=start, finished_at=end,
                                 attempts=1 if start else 0,
                                 error_code=job.error_code if status == "failed" else "",
                                 detail=job.error_detail if status == "failed" else ""))
            at = end or at
        return steps

    def _checks(self, inst: Instance) -> list[HealthCheck]:
        if inst.health_checked_at is None:
            return []
        checks = []
        for n in range(3):
            ok = inst.health == Instance.Health.HEALTHY or n > 0
            checks.append(HealthCheck(instance=inst, checked_at=inst.health_checked_at - dt.timedelta(hours=n),
                                      ok=ok, duration_ms=self.rng.randrange(80, 900),
                                      detail="WhoAmI answered." if ok else inst.health_detail,
                                      error_code="" if ok else (inst.status_code or "http_503")))
        return checks

    def _event(self, inst: Instance, verb: str, when: dt.datetime, actor=None, data: dict | None = None):
        return AuditEvent(created_at=when, actor_id=actor.pk if actor else None,
                          actor_label=actor.get_username() if actor else "system", verb=verb,
                          target_type="instance", target_id=str(inst.pk), target_label=inst.name, data=data or {})

    def _events(self, inst: Instance) -> list[AuditEvent]:
        owner = self.users[inst.owner_id]
        events = [self._event(inst, "instance.created", inst.created_at, owner, {"auth_type": inst.auth_type})]
        if inst.ready_at:
            events.append(self._event(inst, "instance.ready", inst.ready_at))
        if inst.reviewed_by_id:
            lead = self.users[inst.reviewed_by_id]
            verb = "instance.approved" if inst.review_state == "approved" else "instance.changes_requested"
            events.append(self._event(inst, verb, inst.reviewed_at, lead, {"comment": inst.review_comment}))
        if inst.status == Instance.Status.NEEDS_REAUTH:
            events.append(self._event(inst, "instance.status_changed", inst.health_checked_at, None,
                                      {"from": "ready", "to": "needs_reauth", "error_code": inst.status_code}))
        if inst.status in {Instance.Status.DISABLED, Instance.Status.DELETED}:
            verb = "instance.disabled" if inst.status == Instance.Status.DISABLED else "instance.deleted"
            events.append(self._event(inst, verb, self._after(inst.created_at, dt.timedelta(days=1)), owner,
                                      {"from": "ready"}))
        return events

    def _setups(self, instances: list[Instance]) -> None:
        """A recorded wizard history for a few instances, so their pages show the stage timeline."""
        records = []
        for inst in instances:
            setup = Setup.objects.create(owner_id=inst.owner_id, team_id=inst.team_id, status=Setup.Status.COMPLETED,
                                         current_stage="instance", use_sandbox=True,
                                         dynamics_url=inst.dynamics_url, region=inst.region,
                                         tenant=inst.tenant, auth_type=inst.auth_type, client_id=inst.client_id)
            Instance.objects.filter(pk=inst.pk).update(setup=setup)
            at = inst.created_at - dt.timedelta(minutes=len(STAGES) * 3)
            for key in STAGES.keys:
                took = self.rng.randrange(15_000, 240_000)
                at += dt.timedelta(milliseconds=took)
                records.append(StageRecord(setup=setup, stage=key, user_id=inst.owner_id,
                                           started_at=at - dt.timedelta(milliseconds=took), completed_at=at,
                                           duration_ms=took, valid=True))
        StageRecord.objects.bulk_create(records)


# What an instance counts as when a value is left to the model's default.
COUNTED_DEFAULTS = {"review_state": Instance.Review.PENDING, "health": Instance.Health.UNKNOWN, "tags": "",
                    "secret_expires_on": None, "ready_at": None}


@functools.cache
def _copy_layout() -> tuple[list[str], dict, list[str], list[str]]:
    """The table's columns, each one's default as COPY takes it, the encrypted and the JSON columns."""
    columns, defaults, encrypted, as_json = [], {}, [], []
    for field in Instance._meta.concrete_fields:
        columns.append(field.attname)
        if isinstance(field, EncryptedTextField):
            encrypted.append(field.attname)
            defaults[field.attname] = ""
        elif isinstance(field, models.JSONField):
            as_json.append(field.attname)
            defaults[field.attname] = field.get_default()
        elif field.has_default() and not callable(field.default):
            defaults[field.attname] = field.default
        else:
            defaults[field.attname] = "" if field.empty_strings_allowed and not field.null else None
    return columns, defaults, encrypted, as_json


@functools.cache
def _encrypted(column: str, value: str) -> str:
    return Instance._meta.get_field(column).get_prep_value(value)
