"""The eight wizard stages, in order, and which of them a setup has done or may open."""

from __future__ import annotations

from dataclasses import dataclass

from .models import AuthType, Setup, StageRecord

STAGES: list[tuple[str, str]] = [
    ("account", "Account"),
    ("environment", "Environment"),
    ("application", "Directory and application"),
    ("keys", "Keys and client ID"),
    ("permissions", "Permissions"),
    ("review", "Review and save"),
    ("authorize", "Authorize"),
    ("instance", "Create instance"),
]
STAGE_KEYS = [key for key, _ in STAGES]
STAGE_NAMES = dict(STAGES)
# Custom authentication has no app keys: stage 4 asks for a user's sign-in instead.
CUSTOM_AUTH_NAMES = {"keys": "Sign-in account"}
# Stages whose values the review stage shows; changing any of them means reviewing again.
REVIEWED_STAGES = STAGE_KEYS[:5]


def stage_name(stage: str, auth_type: str = "") -> str:
    """What a stage is called for this setup's authentication type (unknown keys: the key itself)."""
    if auth_type == AuthType.CUSTOM and stage in CUSTOM_AUTH_NAMES:
        return CUSTOM_AUTH_NAMES[stage]
    return STAGE_NAMES.get(stage, stage)


def position(stage: str) -> int:
    """1-based position of a stage ("Step 3 of 8")."""
    return STAGE_KEYS.index(stage) + 1


def next_stage(stage: str) -> str:
    i = STAGE_KEYS.index(stage)
    return STAGE_KEYS[min(i + 1, len(STAGE_KEYS) - 1)]


def previous_stage(stage: str) -> str | None:
    i = STAGE_KEYS.index(stage)
    return STAGE_KEYS[i - 1] if i else None


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
        for key in STAGE_KEYS:
            if key not in self.done:
                return key
        return STAGE_KEYS[-1]

    def can_open(self, stage: str) -> bool:
        return STAGE_KEYS.index(stage) <= STAGE_KEYS.index(self.first_open())

    def steps(self, viewing: str) -> list[dict]:
        """Items for the step indicator."""
        items = []
        for number, key in enumerate(STAGE_KEYS, start=1):
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
