"""Polling Dynamics for changes: each change of a polled table becomes a crm.<table>.<change> event.

Beat runs `plan_polls` every minute. It hands each due instance (Ready, polling on, its
per-instance interval passed) to `poll_instance` with a ticket: the ticket is a lease on all the
instance's PollState rows, which the task turns into its own lease. So a duplicated message, a
second beat or a manual poll never polls one instance twice at once, and a lost message's
lease runs out and the instance is handed out again.

Per table (PollState) a poll follows Dataverse change tracking
(https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems):
the first poll asks with `Prefer: odata.track-changes`, pages to the end and keeps the
`@odata.deltaLink` without emitting anything (the baseline: the table's existing rows are not
news); later polls follow the delta link (and its next links) and emit one event per changed or
deleted row. A table without change tracking (Dataverse leaves the delta link out, or refuses the
preference; or it is listed in EVENTS_WATERMARK_TABLES) is polled by `modifiedon`
instead: rows modified since the newest one seen, minus an overlap for rows committed late with an
earlier stamp; the overlap's repeats are dropped by the events' de-duplication key. That mode
cannot see deletions. In the sandbox every table has change tracking; in Dataverse it is a
per-table setting (accounts, contacts, leads and opportunities usually have it on).

Events and the new delta link are saved in one transaction, only while the lease is held, so a
poll that dies halfway is simply repeated: the same changes get the same de-duplication keys
(`table:id:versionnumber`, deletions `table:id:deleted`) and make no second event; a change
Dataverse also pushed (real-time mode, intake.py) has the same keys, so it is one event too.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from urllib.parse import parse_qs, urlsplit

import requests
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from setup_portal.azure.client import AzureError
from setup_portal.azure.errors import Explanation, explain, reauthentication_code
from setup_portal.crm.resources import RESOURCES, Resource, format_datetime, to_record
from setup_portal.dataverse import client as dataverse
from setup_portal.dataverse.client import API, DataverseError
from setup_portal.events.actions import emit_event
from setup_portal.events.models import Event, PollState, RealtimeHook
from setup_portal.instances import polled_tables
from setup_portal.instances import state as instance_state
from setup_portal.instances.models import Instance
from setup_portal.instances.polling_settings import pollable
from setup_portal.instances.provisioning import StepFailed, checked_url
from setup_portal.instances.tokens import acquire_token_for_instance
from setup_portal.observability import context, metrics
from setup_portal.outbound import SandboxDisabled

log = logging.getLogger(__name__)

PAGE_SIZE = 5000  # Dataverse's largest page
DELTA_EXPIRED = "0x80044352"  # "Version stamp associated with the client has expired. Please perform a full sync."
_ENTITY_SETS = {r.entity_set: r for r in RESOURCES.values()}


def lease_seconds() -> int:
    return settings.EVENTS_POLL_LEASE_SECONDS


def overlap() -> dt.timedelta:
    return dt.timedelta(seconds=settings.EVENTS_WATERMARK_OVERLAP_SECONDS)


def watermark_tables() -> set[str]:
    """Resources (API names: accounts, notes…) polled by modifiedon even when Dataverse would track their changes."""
    return set(settings.EVENTS_WATERMARK_TABLES)


# Plain words for what a poll can run into, besides the catalogue's Azure AD and Dataverse codes.
_POLL_ERRORS = {
    "http_429": ("Dynamics CRM asked the portal to slow down",
                 "Dataverse answered 429 Too Many Requests (its service protection limits), so this poll "
                 "was postponed by the time it asked for (Retry-After).",
                 "Nothing to do: polling resumes by itself. If it keeps happening, poll less often or "
                 "fewer tables, or lower other traffic on this environment."),
    "delta_token_expired": ("Change tracking started afresh",
                            "Dataverse no longer knew the poll's place in the change history (its delta "
                            "token had expired, for example after a restore or a long pause), so the "
                            "portal took a new baseline. Changes made since the previous poll were not "
                            "sent as events.",
                            "If receivers must not miss any change, compare their data with Dynamics CRM "
                            "once. Later changes arrive as usual."),
    "bad_link": ("Dynamics CRM answered with a link to somewhere else",
                 "A next or delta link did not point at this instance's Dynamics CRM Web API, so the "
                 "portal did not follow it (it never sends the token elsewhere).",
                 "Check the Dynamics CRM URL of this instance."),
    "unknown_table": ("A polled table is not in this environment",
                      "The instance polls a table its Dynamics CRM environment's metadata does not list "
                      "(removed or renamed since it was chosen).",
                      "Edit the instance and pick from the listed tables."),
}


def explain_poll_error(code: str) -> Explanation:
    entry = _POLL_ERRORS.get(code)
    if entry is None:
        return explain(code)
    return Explanation(code, *entry)


class Throttled(Exception):
    def __init__(self, retry_after: float, message: str):
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message


class LeaseLost(Exception):
    pass


# --- handing polls out ----------------------------------------------------------------------------

def next_poll_time(inst: Instance, now: dt.datetime) -> dt.datetime:
    """One interval from now, give or take 10% (at most a minute), so instances set up together
    do not all poll in the same minute forever. In real-time mode (Dataverse pushes the changes)
    polling only reconciles: at least EVENTS_RECONCILE_MINUTES apart."""
    interval = max(1, inst.polling_interval_minutes) * 60
    if RealtimeHook.objects.filter(instance=inst, state=RealtimeHook.State.ACTIVE).exists():
        interval = max(interval, settings.EVENTS_RECONCILE_MINUTES * 60)
    jitter = min(60.0, interval * 0.1)
    return now + dt.timedelta(seconds=interval + random.uniform(-jitter, jitter))


def _tables(inst: Instance) -> list[str]:
    """The tables the instance polls, in the order it lists them: friendly resources by entity set, any
    other table by its logical name (instances/polled_tables.py resolves it when polled; unknown names
    kept, to report)."""
    out: list[str] = []
    for name in inst.polling_resources or []:
        table = polled_tables.poll_table(name)
        if table not in out:
            out.append(table)
    return out


def _sync_states(inst: Instance, now: dt.datetime) -> None:
    """One PollState per polled table: new tables are due now; tables no longer polled are dropped."""
    tables = _tables(inst)
    PollState.objects.filter(instance=inst).exclude(table__in=tables).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)).delete()
    existing = set(PollState.objects.filter(instance=inst).values_list("table", flat=True))
    PollState.objects.bulk_create([PollState(instance=inst, table=t, next_poll_at=now) for t in tables
                                   if t not in existing], ignore_conflicts=True)


def _take_lease(instance_id, owner: str, now: dt.datetime, *, ticket: str | None = None) -> bool:
    """Lease every PollState row of the instance to `owner`, or none: True when all were taken.

    With a ticket, only rows the planner leased under that ticket are taken over (a duplicated
    message finds them taken, a late one finds them released); without, only free rows."""
    rows = PollState.objects.filter(instance_id=instance_id)
    total = rows.count()
    if total == 0:
        return False
    until = now + dt.timedelta(seconds=lease_seconds())
    free = rows.filter(lease_owner=ticket) if ticket else rows.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
    taken = free.update(lease_owner=owner, lease_expires_at=until)
    if taken != total:
        rows.filter(lease_owner=owner).update(lease_owner="", lease_expires_at=None)
        return False
    return True


def _renew(instance_id, owner: str) -> None:
    until = timezone.now() + dt.timedelta(seconds=lease_seconds())
    if not PollState.objects.filter(instance_id=instance_id, lease_owner=owner).update(lease_expires_at=until):
        raise LeaseLost()


def due_instance_ids(now: dt.datetime, limit: int) -> list:
    candidates = Instance.objects.filter(pollable())
    fresh = candidates.filter(poll_states__isnull=True).exclude(polling_resources=[])
    leased = PollState.objects.filter(lease_expires_at__gt=now).values("instance_id")
    due = (candidates.filter(poll_states__next_poll_at__lte=now).exclude(pk__in=leased))
    ids = list(fresh.values_list("pk", flat=True)[:limit])
    ids += [i for i in due.values_list("pk", flat=True).distinct()[:limit] if i not in ids]
    return ids[:limit]


@shared_task(name="events.plan_polls", ignore_result=True)
def plan_polls(limit: int = 2000) -> int:
    """Hand out every due poll (beat, every minute). Returns how many were handed out."""
    now = timezone.now()
    handed = 0
    for instance_id in due_instance_ids(now, limit):
        ticket = f"ticket:{uuid.uuid4().hex}"
        with transaction.atomic():
            inst = Instance.objects.filter(pollable(), pk=instance_id).first()
            if inst is None:
                continue
            _sync_states(inst, now)
            if not _take_lease(instance_id, ticket, now):
                continue
        poll_instance.delay(str(instance_id), ticket)
        handed += 1
    return handed


@shared_task(name="events.poll_instance", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def poll_instance(instance_id: str, ticket: str | None = None) -> str:
    """Poll every table of one instance; "not-claimed" when another poll holds it (or the ticket is stale)."""
    now = timezone.now()
    worker = context.worker_name()
    inst = Instance.objects.filter(pollable(), pk=instance_id).first()
    if inst is None:
        PollState.objects.filter(instance_id=instance_id, lease_owner=ticket or "-").update(
            lease_owner="", lease_expires_at=None)
        return "not-pollable"
    if ticket is None:
        with transaction.atomic():
            _sync_states(inst, now)
    if not _take_lease(inst.pk, worker, now, ticket=ticket):
        return "not-claimed"
    try:
        return _poll(inst, worker)
    except LeaseLost:
        return "lease-lost"
    finally:
        PollState.objects.filter(instance_id=inst.pk, lease_owner=worker).update(lease_owner="",
                                                                                 lease_expires_at=None)


# --- one poll -------------------------------------------------------------------------------------

def _poll(inst: Instance, worker: str) -> str:
    states = list(PollState.objects.filter(instance=inst, lease_owner=worker).order_by("id"))
    now = timezone.now()
    context.bind(instance_id=inst.pk)  # cleared when the task ends (observability/celery_signals.py)
    for state in states:
        if state.next_poll_at is not None:
            table = state.table if state.table in _ENTITY_SETS else "other"
            metrics.poll_lag.labels(table).observe(max(0.0, (now - state.next_poll_at).total_seconds()))
    following = next_poll_time(inst, now)
    try:
        base = checked_url(inst).rstrip("/")
        token = acquire_token_for_instance(inst).access_token
    except StepFailed as exc:
        _record_all(inst, worker, code=exc.code, detail=str(exc), next_poll_at=following)
        return "failed"
    except AzureError as exc:
        reauth = reauthentication_code(exc.code, exc.description)
        _record_all(inst, worker, code=reauth or exc.code, detail=exc.description or str(exc), next_poll_at=following)
        if reauth:  # as keep-alive would: the instance stops being polled until someone signs in again
            instance_state.mark_needs_reauth(inst.pk, code=reauth, acting_user=None)
        return "failed"
    outcome = "polled"
    for state in states:
        _renew(inst.pk, worker)
        try:
            resource = polled_tables.resource(inst, state.table, base=base, token=token)
            if resource is None:
                _record(state, worker, code="unknown_table", detail=f"“{state.table}” is not a table of this "
                        "environment.", next_poll_at=following)
                continue
            poller = TablePoll(inst, state, resource, base, token, worker)
            poller.run()
        except Throttled as exc:
            later = timezone.now() + dt.timedelta(seconds=max(1.0, exc.retry_after))
            _record_all(inst, worker, code="http_429", next_poll_at=later, keep_success=True,
                        detail=f"Postponed by {exc.retry_after:g} s (Retry-After). Dataverse said: {exc.message}")
            return "throttled"
        except DataverseError as exc:
            _record(state, worker, code=exc.catalogue_code if exc.status in (401, 403, 404) else exc.code,
                    detail=exc.message or str(exc), next_poll_at=following)
            outcome = "failed"
        except (requests.RequestException, SandboxDisabled) as exc:
            _record(state, worker, code="connection_error", detail=str(exc)[:300], next_poll_at=following)
            outcome = "failed"
        else:
            poller.save(next_poll_at=following)
    return outcome


def _record(state: PollState, worker: str, *, code: str, detail: str, next_poll_at: dt.datetime) -> None:
    PollState.objects.filter(pk=state.pk, lease_owner=worker).update(
        last_error_code=code[:32], last_error_detail=detail[:1000], last_poll_at=timezone.now(),
        next_poll_at=next_poll_at, changes_found=0)


def _record_all(inst: Instance, worker: str, *, code: str, detail: str, next_poll_at: dt.datetime,
                keep_success: bool = False) -> None:
    fields = {"last_error_code": code[:32], "last_error_detail": detail[:1000], "next_poll_at": next_poll_at}
    if not keep_success:
        fields.update(last_poll_at=timezone.now(), changes_found=0)
    PollState.objects.filter(instance=inst, lease_owner=worker).update(**fields)


def _dataverse_time(value) -> dt.datetime | None:
    if not value:
        return None
    moment = parse_datetime(str(value))
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment


def _token_time(link: str) -> tuple[str, dt.datetime | None]:
    """The delta token of a delta link and the moment it stands for ("<version>!MM/dd/yyyy HH:mm:ss", UTC)."""
    token = (parse_qs(urlsplit(link).query).get("$deltatoken") or [""])[0]
    _, _, stamp = token.partition("!")
    try:
        return token, dt.datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return token, None


class TablePoll:
    """One table's part of a poll: fetch (outside any transaction), then save events and progress at once."""

    def __init__(self, inst: Instance, state: PollState, resource: Resource, base: str, token: str, worker: str):
        self.inst, self.state, self.resource = inst, state, resource
        self.base, self.token, self.worker = base, token, worker
        self.api = f"{base}{API}/"
        self.changes: list[tuple] = []  # (type, data, occurred_at, record_key, dedupe_key)
        self.update: dict = {}

    # HTTP ------------------------------------------------------------------------------------
    def get(self, url: str, *, prefer: str = "", params: dict | None = None) -> dict:
        try:
            return dataverse.get_url(self.base, self.token, url, params=params, prefer=prefer, fresh=True)
        except DataverseError as exc:
            if exc.status == 429:
                raise Throttled(exc.retry_after or 60.0, exc.message) from None
            raise

    def pages(self, url: str, *, prefer: str, params: dict | None = None):
        page = self.get(url, prefer=prefer, params=params)
        yield page
        while page.get("@odata.nextLink"):
            _renew(self.inst.pk, self.worker)
            page = self.get(page["@odata.nextLink"], prefer=prefer)
            yield page

    def select(self) -> str:
        """The resource's columns and versionnumber (the de-duplication key), for the delta link too."""
        return ",".join([*self.resource.columns, "versionnumber"])

    # Modes -----------------------------------------------------------------------------------
    def run(self) -> None:
        state = self.state
        if self.resource.name in watermark_tables() or state.mode == "watermark":
            self.by_watermark()
        elif not state.delta_link:
            self.baseline()
        else:
            try:
                self.follow_delta()
            except DataverseError as exc:
                if exc.code.lower() != DELTA_EXPIRED:
                    raise
                self.changes = []
                self.baseline()
                self.update.update(rebaselined_at=timezone.now(), last_error_code="delta_token_expired",
                                   last_error_detail=f"Dataverse said: {exc.message}")

    def baseline(self) -> None:
        """Page through the table with change tracking to get a delta link; no events."""
        prefer = f"odata.track-changes,odata.maxpagesize={PAGE_SIZE}"
        try:
            last: dict = {}
            for page in self.pages(self.api + self.resource.entity_set, prefer=prefer,
                                   params={"$select": self.select()}):
                last = page
        except DataverseError as exc:
            if exc.status == 400 and "change tracking" in exc.message.lower():
                return self.watermark_baseline()
            raise
        link = last.get("@odata.deltaLink")
        if not link:  # change tracking is off for this table: Dataverse ignored the preference
            return self.watermark_baseline()
        _, since = _token_time(link)
        now = timezone.now()
        self.update.update(delta_link=link, delta_since=since or now, baseline_at=now, mode="delta",
                           watermark=None)
        return None

    def follow_delta(self) -> None:
        state, resource = self.state, self.resource
        token, since = _token_time(state.delta_link)
        since = since or state.delta_since or state.baseline_at
        rows, deleted, last = [], [], {}
        for last in self.pages(state.delta_link, prefer=f"odata.track-changes,odata.maxpagesize={PAGE_SIZE}"):
            for row in last.get("value", []):
                if "$deletedEntity" in str(row.get("@odata.context", "")):
                    deleted.append(row)
                else:
                    rows.append(row)
        rows.sort(key=lambda r: int(r.get("versionnumber") or 0))
        for row in rows:
            self.add_change(row, since)
        for row in deleted:
            record_id = str(row.get("id") or "")
            self.changes.append((f"crm.{resource.name}.deleted",
                                 {"table": resource.name, "id": record_id, "reason": row.get("reason", "deleted")},
                                 None, f"{resource.name}:{record_id}",
                                 f"{resource.name}:{record_id}:deleted"))
        new_link = last.get("@odata.deltaLink") or state.delta_link
        _, new_since = _token_time(new_link)
        self.update.update(delta_link=new_link, delta_since=new_since or timezone.now(), mode="delta")

    def watermark_baseline(self) -> None:
        """The newest modifiedon and the highest row version now: what the table held before polling."""
        marks = []
        for column in ("modifiedon", "versionnumber"):
            rows = self.get(self.api + self.resource.entity_set, params={
                "$select": "modifiedon,versionnumber", "$orderby": f"{column} desc", "$top": "1"}).get("value") or []
            marks += rows
        mark = max((m for m in (_dataverse_time(r.get("modifiedon")) for r in marks) if m), default=None)
        version = max((int(r.get("versionnumber") or 0) for r in marks), default=0)
        now = timezone.now()
        self.update.update(mode="watermark", watermark=mark or now, baseline_version=version, baseline_at=now,
                           delta_link="", delta_since=None)

    def by_watermark(self) -> None:
        state = self.state
        if state.watermark is None or state.mode != "watermark":
            return self.watermark_baseline()
        since = state.watermark
        params = {"$select": self.select(), "$orderby": "modifiedon asc",
                  "$filter": f"modifiedon ge {format_datetime(since - overlap())}"}
        newest = since
        for page in self.pages(self.api + self.resource.entity_set, prefer=f"odata.maxpagesize={PAGE_SIZE}",
                               params=params):
            for row in page.get("value", []):
                # The overlap reaches back before the baseline: rows no newer than it are not news.
                if int(row.get("versionnumber") or 0) > (state.baseline_version or 0):
                    self.add_change(row, since)
                changed = _dataverse_time(row.get("modifiedon"))
                if changed and changed > newest:
                    newest = changed
        self.update.update(watermark=newest, mode="watermark")
        return None

    def add_change(self, row: dict, since: dt.datetime | None) -> None:
        resource = self.resource
        record_id = str(row.get(resource.key) or "")
        created, modified = _dataverse_time(row.get("createdon")), _dataverse_time(row.get("modifiedon"))
        # New since the last poll: created after the place the poll started from (or, with no
        # such place, never modified since). Dataverse stamps to the second, so a row created and
        # updated within the second of an earlier poll looks new: the events already sent decide.
        is_new = created is not None and (created == modified or since is None or created >= since)
        if is_new and Event.objects.filter(instance=self.inst, record_key=f"{resource.name}:{record_id}").exists():
            is_new = False
        kind = "created" if is_new else "updated"
        data = {"table": resource.name, "id": record_id, "changed_at": row.get("modifiedon"),
                "record": to_record(row, resource, drop_nulls=self.inst.filter_nulls)}
        version = row.get("versionnumber") or str(row.get("@odata.etag", "")).removeprefix('W/').strip('"')
        self.changes.append((f"crm.{resource.name}.{kind}", data, modified, f"{resource.name}:{record_id}",
                             f"{resource.name}:{record_id}:{version}"))

    # Saving ----------------------------------------------------------------------------------
    def save(self, *, next_poll_at: dt.datetime) -> int:
        """Emit the changes and move the table's place forward together, while the lease holds."""
        with transaction.atomic():
            state = PollState.objects.select_for_update().filter(pk=self.state.pk, lease_owner=self.worker).first()
            if state is None:
                raise LeaseLost()
            found = 0
            for event_type, data, occurred_at, record_key, dedupe_key in self.changes:
                if emit_event(self.inst, event_type, data, occurred_at=occurred_at, record_key=record_key,
                              dedupe_key=dedupe_key) is not None:
                    found += 1
            fields = {"last_poll_at": timezone.now(), "next_poll_at": next_poll_at, "changes_found": found,
                      "total_changes": state.total_changes + found, "last_error_code": "", "last_error_detail": "",
                      **self.update}
            for name, value in fields.items():
                setattr(state, name, value)
            state.save(update_fields=list(fields))
        return found
