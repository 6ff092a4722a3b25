"""Each instance's table descriptions: read from its environment's metadata once, stored, parsed once per process.

`catalogue(instance)` answers from the stored copy (setup_portal/dataverse/stored.py, the model
`dataverse.EnvironmentMetadata`, shared with event polling), read on first use; the
parsed Catalogue is kept in this process keyed by the row's fetch time, so a call costs one small
indexed SELECT (the fetch time), and a refresh in any process is seen by every other on its next call.
`refresh(instance)` reads the metadata again (`POST objects/refresh`); `refresh_for_unknown`
does so when a request names a table or field the stored copy lacks, at most once a minute per
instance (claimed with one conditional UPDATE, so concurrent requests do not all refetch).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from setup_portal.azure.client import AzureError
from setup_portal.crm.tables import Catalogue
from setup_portal.dataverse import stored
from setup_portal.dataverse.client import DataverseError
from setup_portal.instances.models import Instance
from setup_portal.outbound import SandboxDisabled

from ..problems import Problem, catalogue_fix
from . import access, gateway

UNKNOWN_NAME_REFRESH = timedelta(minutes=1)
_parsed: dict[object, tuple[datetime, Catalogue]] = {}
_lock = threading.Lock()


def catalogue(request, instance: Instance) -> Catalogue:
    """The instance's tables, read from its environment on first use."""
    fetched = stored.fetched_at(instance.pk)
    if fetched is None:
        return refresh(request, instance, first=True)
    cached = _parsed.get(instance.pk)
    if cached is not None and cached[0] == fetched:
        return cached[1]
    row = stored.load(instance.pk)
    if row is None:  # deleted in between (the instance was)
        return refresh(request, instance, first=True)
    return _keep(instance.pk, row[1], Catalogue.from_definitions(row[0]))


def fetched_at(instance: Instance) -> datetime | None:
    return stored.fetched_at(instance.pk)


def refresh(request, instance: Instance, *, first: bool = False) -> Catalogue:
    """Read the environment's metadata again and store it; a Problem when Dataverse or Azure AD fails.
    The `first` read counts as a refresh for unknown names: a name it lacks waits a minute."""
    definitions, now = _read(request, instance, first=first)
    return _keep(instance.pk, now, Catalogue.from_definitions(definitions))


def refresh_for_unknown(request, instance: Instance) -> Catalogue | None:
    """A fresh catalogue when the last such refresh of this instance is over a minute old, else None."""
    if not stored.claim_refresh(instance.pk, UNKNOWN_NAME_REFRESH):
        return None
    return refresh(request, instance)


def _keep(instance_id, fetched: datetime, parsed: Catalogue) -> Catalogue:
    with _lock:
        _parsed[instance_id] = (fetched, parsed)
    return parsed


def _read(request, instance: Instance, *, first: bool) -> tuple[dict, datetime]:
    base = gateway.web_api_base(instance)  # the Dynamics URL checked again (409 when refused)
    dynamics_url = base.removesuffix(gateway.API_PATH)
    try:
        return stored.read_and_store(instance.pk, dynamics_url, access.access_token(instance), first=first)
    except AzureError as exc:
        raise gateway.azure_problem(request, instance, exc) from None
    except (access.InstanceGone, stored.InstanceGone):
        raise Problem(404, "This instance no longer exists.") from None
    except SandboxDisabled:
        raise Problem(409, "This instance uses the sandbox tenant, which is switched off on this portal.",
                      slug="sandbox-disabled") from None
    except DataverseError as exc:
        raise _metadata_problem(exc) from None


def _metadata_problem(exc: DataverseError) -> Problem:
    detail = f"Dynamics CRM did not give the portal its table definitions: {exc.message}"[:500]
    if exc.status == 429 or exc.code == "timeout":
        headers = {"Retry-After": str(max(1, round(exc.retry_after or 1)))}
        return Problem(429 if exc.status == 429 else 504, detail, code=exc.code, headers=headers)
    if exc.status == 403:
        return Problem(403, detail, code=exc.code, fix=catalogue_fix("dataverse_403"))
    return Problem(502, detail, code=exc.code, fix=catalogue_fix(exc.catalogue_code))
