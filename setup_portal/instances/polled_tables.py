"""Which tables event polling offers an instance and how a polled name becomes a table to read
(the edit form and the management API offer them; the polling part, setup_portal/polling/, reads them).

Offered: the seven friendly resources under their names (accounts, contacts, …: their events keep
the names `crm.accounts.created` etc.), then every other table of the environment whose metadata
says ChangeTrackingEnabled, by logical name (`cr8a2_project`: events `crm.cr8a2_project.created`).
The metadata is the instance's stored copy (setup_portal/dataverse/stored.py, shared with the
instance API); when none is stored yet it is read once through the Dataverse client and stored.
When it cannot be read, the friendly resources are still offered, with the names already chosen.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import requests

from setup_portal.azure.client import AzureError
from setup_portal.crm.resources import FRIENDLY_CHOICES, RESOURCES, Resource
from setup_portal.crm.tables import Catalogue
from setup_portal.dataverse import stored
from setup_portal.dataverse.client import DataverseError
from setup_portal.outbound import SandboxDisabled

from .models import Instance
from .provisioning import StepFailed, checked_url
from .tokens import acquire_token_for_instance

log = logging.getLogger(__name__)

# The friendly resources' tables (entity sets), offered under the friendly name only.
_FRIENDLY_SETS = {r.entity_set for r in RESOURCES.values()}
UNKNOWN_TABLE_REFRESH = timedelta(minutes=1)  # as the instance API: one re-read a minute for a name it lacks
READ_RETRY_SECONDS = 60.0  # after a failed read for the choices, this process offers without it for a minute
_failed: dict[object, float] = {}
_parsed: dict[object, tuple[datetime, Catalogue]] = {}
_lock = threading.Lock()


class NotReadable(Exception):
    """No metadata is stored and the instance cannot be asked (not Ready, or a seeded demo)."""


def catalogue(inst: Instance, *, base: str | None = None, token: str | None = None) -> Catalogue:
    """The instance's tables from the stored metadata; read (and stored) first when there is none.
    Reading raises what the Dataverse client and Azure AD raise (DataverseError, AzureError, …)."""
    row = stored.load(inst.pk)
    if row is None:
        if inst.status != Instance.Status.READY or inst.seeded:
            raise NotReadable(inst.pk)
        if base is None or token is None:
            base, token = checked_url(inst).rstrip("/"), acquire_token_for_instance(inst).access_token
        definitions, fetched = stored.read_and_store(inst.pk, base, token, first=True)
        row = (definitions, fetched)
    definitions, fetched = row
    with _lock:
        cached = _parsed.get(inst.pk)
        if cached is not None and cached[0] == fetched:
            return cached[1]
    parsed = Catalogue.from_definitions(definitions)
    with _lock:
        _parsed[inst.pk] = (fetched, parsed)
    return parsed


def tracked(parsed: Catalogue) -> list[tuple[str, str]]:
    """(logical name, label) of every change-tracked table the friendly resources do not cover."""
    return [(t.logical_name, f"{t.collection_name} ({t.logical_name})") for t in parsed.tables
            if t.change_tracking and t.entity_set not in _FRIENDLY_SETS and t.logical_name]


def choices(inst: Instance | None, *, keep: list[str] | tuple = ()) -> list[tuple[str, str]]:
    """What polling offers for `inst`: the friendly resources, then its change-tracked tables.
    Without an instance, or when its metadata cannot be read, the friendly ones and `keep` (the
    names already chosen, so saving the form again does not drop them)."""
    offered = list(FRIENDLY_CHOICES)
    if inst is not None and time.monotonic() - _failed.get(inst.pk, -READ_RETRY_SECONDS) >= READ_RETRY_SECONDS:
        try:
            offered += tracked(catalogue(inst))
        except NotReadable:
            pass
        except (DataverseError, AzureError, StepFailed, SandboxDisabled, stored.InstanceGone,
                requests.RequestException, OSError) as exc:
            # A page or API answer still works: the friendly resources and the chosen names are offered.
            _failed[inst.pk] = time.monotonic()
            log.info("polling choices without metadata for instance %s: %s", inst.pk, exc)
    known = {name for name, _ in offered}
    return offered + [(str(name), str(name)) for name in keep if str(name) not in known]


def poll_table(name: str) -> str:
    """A polled name's PollState table: a friendly resource's entity set, any other table's logical name."""
    resource = RESOURCES.get(name)
    return resource.entity_set if resource else str(name)


def resource(inst: Instance, table: str, *, base: str, token: str) -> Resource | None:
    """What a PollState table is read as: a friendly resource (its own fields, as its events always had)
    or a table of the metadata by logical or entity-set name; None when the environment has no such table."""
    friendly = next((r for r in RESOURCES.values() if r.entity_set == table), None)
    if friendly is not None:
        return friendly
    found = catalogue(inst, base=base, token=token).table(table)
    if found is None and stored.claim_refresh(inst.pk, UNKNOWN_TABLE_REFRESH):  # made since the last read?
        stored.read_and_store(inst.pk, base, token)
        found = catalogue(inst, base=base, token=token).table(table)
    return found.resource if found is not None else None
