"""The wizard's stages as objects, in one catalogue, and which of them a setup has done or may open.

Each stage says what it is called, the form that takes its values (if any), its template, the
handler that serves its page, and whether the review stage shows its values. The wizard's
pages (views.py) and the management API's provisioning both read the catalogue. The wizard
registers its first seven stages (catalogue.py); the instances app adds stage 8 ("Create
instance") when it loads, so the wizard never imports what comes after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings

from .models import AuthType, Setup, StageRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    key: str
    title: str
    # The stage's page: handler(request, setup, key, progress) -> HttpResponse, for the setup's owner.
    handler: Callable = field(repr=False)
    form: type | None = None  # the form that takes its values (forms.StageForm), if it has one
    reviewed: bool = False  # the review stage shows its values; changing one means reviewing again
    custom_title: str = ""  # what it is called under custom authentication, when that differs
    template: str = ""  # wizard/<key>.html unless given

    def __post_init__(self):
        if not self.template:
            object.__setattr__(self, "template", f"wizard/{self.key}.html")

    def title_for(self, auth_type: str) -> str:
        return self.custom_title if auth_type == AuthType.CUSTOM and self.custom_title else self.title


class Catalogue:
    """The stages in order; `key in STAGES`, `STAGES[key]`, iteration and len() as for a list of them."""

    def __init__(self) -> None:
        self._stages: list[Stage] = []

    def register(self, stage: Stage, *, after: str | None = None) -> None:
        """Add `stage` at the end, or right after the stage `after` (which must be there already)."""
        if stage.key in self:
            raise ValueError(f"The wizard already has a stage {stage.key!r}.")
        at = self.keys.index(after) + 1 if after is not None else len(self._stages)
        self._stages.insert(at, stage)

    def __iter__(self) -> Iterator[Stage]:
        return iter(self._stages)

    def __len__(self) -> int:
        return len(self._stages)

    def __contains__(self, key: object) -> bool:
        return any(stage.key == key for stage in self._stages)

    def __getitem__(self, key: str) -> Stage:
        for stage in self._stages:
            if stage.key == key:
                return stage
        raise KeyError(key)

    @property
    def keys(self) -> list[str]:
        return [stage.key for stage in self._stages]

    @property
    def reviewed(self) -> list[Stage]:
        return [stage for stage in self._stages if stage.reviewed]

    @property
    def last(self) -> str:
        return self._stages[-1].key


STAGES = Catalogue()


def stage_name(stage: str, auth_type: str = "") -> str:
    """What a stage is called for this setup's authentication type (unknown keys: the key itself)."""
    return STAGES[stage].title_for(auth_type) if stage in STAGES else stage


def position(stage: str) -> int:
    """1-based position of a stage ("Step 3 of 8")."""
    return STAGES.keys.index(stage) + 1


def next_stage(stage: str) -> str:
    keys = STAGES.keys
    i = keys.index(stage)
    return keys[min(i + 1, len(keys) - 1)]


def previous_stage(stage: str) -> str | None:
    keys = STAGES.keys
    i = keys.index(stage)
    return keys[i - 1] if i else None


@dataclass
class Progress:
    """What a setup has done: read once per request from its stage records."""

    done: set[str]
    invalidated: set[str]
    auth_type: str = ""

    @classmethod
    def of(cls, setup: Setup) -> Progress:
        rows = StageRecord.objects.filter(setup=setup, valid=True).values_list("stage", "invalidated_at")
        done = {stage for stage, invalidated_at in rows if invalidated_at is None}
        invalidated = {stage for stage, invalidated_at in rows if invalidated_at is not None} - done
        # Authorization is done when the azure app says so, whether or not "Continue" was clicked yet.
        if setup.authorized_at:
            done.add("authorize")
            invalidated.discard("authorize")
        else:
            done.discard("authorize")
        return cls(done=done, invalidated=invalidated, auth_type=setup.auth_type)

    def first_open(self) -> str:
        """The first stage not done yet: every stage up to it may be opened."""
        for key in STAGES.keys:
            if key not in self.done:
                return key
        return STAGES.last

    def can_open(self, stage: str) -> bool:
        keys = STAGES.keys
        return keys.index(stage) <= keys.index(self.first_open())

    def steps(self, viewing: str) -> list[dict]:
        """Items for the step indicator."""
        items = []
        for number, key in enumerate(STAGES.keys, start=1):
            if key == viewing:
                state = "current"
            elif key in self.done:
                state = "done"
            elif key in self.invalidated:
                state = "invalid"
            else:
                state = ""
            items.append({"key": key, "name": stage_name(key, self.auth_type), "number": number, "state": state,
                          "openable": self.can_open(key)})
        return items


def sandbox_values(setup: Setup | None = None) -> dict | None:
    """The sandbox tenant's values for the stage forms (pages and the management API): None when
    the sandbox is off, the setup is not a sandbox one, or the sandbox cannot say (not started yet)."""
    if not settings.SANDBOX_ENABLED or (setup is not None and not setup.use_sandbox):
        return None
    try:
        from setup_portal.sandbox.info import sandbox_info

        return sandbox_info()
    except Exception:  # whatever the sandbox raises, the admin gets a page with a message, not a 500
        log.exception("sandbox_info failed")
        return None
