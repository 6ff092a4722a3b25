"""Dataverse's pushes to the portal's webhook: `POST /hooks/dataverse/<instance>/`.

The view only checks the key (constant time), the size and the shape, counts the push and queues
`take_push`; Dataverse's timeout is 60 s and a slow answer would hold its asynchronous service.
`take_push` turns the execution context into the event polling would make, for any watched table
(resolved by instances/polled_tables.py as polling resolves it: the friendly seven as `crm.accounts.*`, any other
table as `crm.<logical name>.*`): for a Create or Update it reads the row as polling does (so the
payload has the same shape), for a Delete it needs only the id. The de-duplication key is polling's
(`table:id:version`, `table:id:deleted`), so a change both pushed and polled is one event; a push
older than an event already made for the record (a late retry) is dropped, so events of one record
stay in order.
"""

from __future__ import annotations

import hmac
import json
import logging

from celery import current_app
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from setup_portal.crm.resources import Resource, to_record
from setup_portal.dataverse import client as dataverse
from setup_portal.dataverse.client import API, DataverseError
from setup_portal.events.actions import emit_event
from setup_portal.events.models import Event, RealtimeHook, RealtimeStep
from setup_portal.instances import polled_tables
from setup_portal.instances.models import Instance
from setup_portal.instances.provisioning import checked_url
from setup_portal.instances.tokens import acquire_token_for_instance

log = logging.getLogger(__name__)
MAX_BODY = 512 * 1024  # Dataverse trims its context past 256 KB (x-ms-dynamics-msg-size-exceeded)
KEY_HEADER = "x-portal-hook-key"
KINDS = {"Create": "created", "Update": "updated", "Delete": "deleted"}
TAKE_TASK = "events.take_push"


def _problem(status: int, title: str) -> JsonResponse:
    return JsonResponse({"type": "about:blank", "title": title, "status": status}, status=status,
                        content_type="application/problem+json")


def _key_matches(hook: RealtimeHook, given: str) -> bool:
    good = hmac.compare_digest(given.encode(), hook.key.encode())
    if hook.previous_key:
        good = hmac.compare_digest(given.encode(), hook.previous_key.encode()) or good
    return good and bool(given)


@csrf_exempt
@require_POST
def dataverse_push(request: HttpRequest, instance_id) -> HttpResponse:
    length = int(request.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        return _problem(413, "The execution context is larger than the portal accepts.")
    hook = RealtimeHook.objects.filter(instance_id=instance_id).only("key", "previous_key", "enabled").first()
    if hook is None or not _key_matches(hook, request.headers.get(KEY_HEADER, "")):
        return _problem(401, "Unknown instance or wrong key.")
    try:
        context = json.loads(request.body[:MAX_BODY])
        message, entity = str(context["MessageName"]), str(context["PrimaryEntityName"])
        record_id = str(context["PrimaryEntityId"])
    except (ValueError, KeyError, TypeError):
        return _problem(400, "Not a Dataverse execution context.")
    if message not in KINDS:
        return HttpResponse(status=204)  # a message the portal did not register: nothing to do
    RealtimeHook.objects.filter(pk=hook.pk).update(last_push_at=timezone.now(), pushes=F("pushes") + 1)
    current_app.send_task(TAKE_TASK, args=[str(instance_id), message, entity[:100], record_id[:64]])
    return HttpResponse(status=202)


# --- the worker's part -----------------------------------------------------------------------------
def _newest_version(inst: Instance, record_key: str) -> tuple[int, bool]:
    """The highest row version of the record's events so far, and whether it was deleted."""
    newest, deleted = 0, False
    for key in Event.objects.filter(instance=inst, record_key=record_key).values_list("dedupe_key", flat=True):
        tail = key.rsplit(":", 1)[-1]
        if tail == "deleted" or ":deleted:" in key:
            deleted = True
        elif tail.isdigit():
            newest = max(newest, int(tail))
    return newest, deleted


def take_push(instance_id: str, message: str, entity: str, record_id: str) -> str:
    inst = Instance.objects.filter(pk=instance_id, status=Instance.Status.READY).first()
    if inst is None:
        return "not-ready"
    # Steps are registered per watched table (realtime.py); the step's table is the polled name, read
    # as polling reads it (instances/polled_tables.py): a friendly resource, `crm.accounts.*`, or any other table of
    # the metadata by logical name, `crm.cr8a2_project.*`.
    step = RealtimeStep.objects.filter(hook__instance=inst, logical_name=entity).first()
    if step is None:
        return "not-watched"
    base = checked_url(inst).rstrip("/")
    token = acquire_token_for_instance(inst).access_token
    resource: Resource | None = polled_tables.resource(inst, step.table, base=base, token=token)
    if resource is None:
        return "not-watched"
    record_key = f"{resource.name}:{record_id}"
    if message == "Delete":
        made = emit_event(inst, f"crm.{resource.name}.deleted",
                          {"table": resource.name, "id": record_id, "reason": "deleted"},
                          record_key=record_key, dedupe_key=f"{record_key}:deleted")
        return "emitted" if made else "duplicate"
    url = f"{base}{API}/{resource.entity_set}({record_id})"
    try:
        row = dataverse.get_url(base, token, url, params={"$select": ",".join([*resource.columns, "versionnumber"])},
                                fresh=True)
    except DataverseError as exc:
        if exc.status == 404:
            return "gone"  # deleted since: its Delete push (or the reconciliation) makes that event
        raise
    version = int(row.get("versionnumber") or 0)
    newest, deleted = _newest_version(inst, record_key)
    if deleted or version <= newest:
        return "stale"
    kind = KINDS[message]
    if kind == "created" and newest:
        kind = "updated"
    data = {"table": resource.name, "id": record_id, "changed_at": row.get("modifiedon"),
            "record": to_record(row, resource, drop_nulls=inst.filter_nulls)}
    made = emit_event(inst, f"crm.{resource.name}.{kind}", data, record_key=record_key,
                      dedupe_key=f"{record_key}:{version}")
    return "emitted" if made else "duplicate"
