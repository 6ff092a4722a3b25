"""How a setup's records read to people: drafts told apart, and refused attempts collapsed.

An admin who tries the Keys stage five times with a wrong secret made one mistake, not five
events worth a row each; the history shows it once, with the count and the latest reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Max, QuerySet
from django.db.models.functions import Coalesce, Greatest

from .models import Setup, StageRecord
from .stages import STAGES, position, stage_name

_FIELD_PREFIX = re.compile(r"^(?:[a-z_]+|__all__): ")


def reason(message: str) -> str:
    """A refusal is kept as "<field>: <message>"; people read the message."""
    return _FIELD_PREFIX.sub("", message)


def collapse_attempts(records: Iterable[StageRecord], auth_type: str = "") -> list[StageRecord]:
    """The records in order, each run of refused attempts at one stage folded into its latest.

    Every record returned carries `label` (the stage's name), `attempts` (how many records it
    stands for), `first_attempt_at` (when the run began) and `reasons` (its messages in the
    admin's words).
    """
    rows: list[StageRecord] = []
    for record in records:
        record.label = stage_name(record.stage, auth_type)
        record.reasons = [reason(message) for message in record.messages]
        previous = rows[-1] if rows else None
        if previous is not None and not record.valid and not previous.valid and previous.stage == record.stage:
            record.attempts = previous.attempts + 1
            record.first_attempt_at = previous.first_attempt_at
            rows[-1] = record
        else:
            record.attempts = 1
            record.first_attempt_at = record.completed_at
            rows.append(record)
    return rows


def setup_label(setup: Setup) -> str:
    """A draft's name before it has one: the Dynamics URL it connects."""
    return setup.dynamics_url or "New setup, no environment yet"


@dataclass
class Draft:
    """One line of a drafts list."""

    setup: Setup
    label: str
    auth_type: str  # its label, or "" while stage 3 is not done
    number: int
    stage_name: str
    last_activity: dt.datetime
    refused: int  # the latest attempts, refused in a row at one stage...
    refused_at: str  # ...that stage's name
    last_error: str


def _refused_in_a_row(records: list[StageRecord]) -> tuple[int, str, str]:
    """(count, stage, first message of the latest) of the refused attempts that end the records."""
    if not records or records[-1].valid:
        return 0, "", ""
    stage = records[-1].stage
    count = 0
    for record in reversed(records):
        if record.valid or record.stage != stage:
            break
        count += 1
    return count, stage, reason((records[-1].messages or [""])[0])


def list_drafts(queryset: QuerySet[Setup], *, limit: int) -> list[Draft]:
    """Up to `limit` drafts of `queryset`, most recently active first, with what tells them apart."""
    # A refused attempt leaves the setup row alone, so its time comes from the stage records.
    rows = (queryset.filter(status=Setup.Status.DRAFT).select_related("owner")
            .annotate(last_activity=Greatest("updated_at", Coalesce(Max("stage_records__completed_at"),
                                                                    "updated_at")))
            .order_by("-last_activity").prefetch_related("stage_records")[:limit])
    items = []
    for setup in rows:
        stage = setup.current_stage if setup.current_stage in STAGES else STAGES.keys[0]
        records = list(setup.stage_records.all())
        refused, refused_stage, error = _refused_in_a_row(records)
        chosen = any(r.stage == "application" and r.valid for r in records)
        items.append(Draft(
            setup=setup, label=setup_label(setup),
            auth_type=setup.get_auth_type_display() if chosen else "",
            number=position(stage), stage_name=stage_name(stage, setup.auth_type),
            last_activity=setup.last_activity, refused=refused,
            refused_at=stage_name(refused_stage, setup.auth_type), last_error=error,
        ))
    return items
