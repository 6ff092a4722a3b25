"""Per-team counters and daily rollups: what the dashboard's tiles, chart and filter choices read.

Kept by instances/state.py's transition() in the same transaction as the change they count
(stats/counters.py holds the arithmetic); `check_counters` recounts them from the instances.
Each row holds a number of instances with one combination of values, so reading a team's
dashboard reads a few hundred small rows whatever the number of instances.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StateCount(models.Model):
    """Instances of a team with this status, review state and health (at most 72 rows a team)."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16)
    review_state = models.CharField(max_length=20)
    health = models.CharField(max_length=16)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "status", "review_state", "health"],
                                               name="statecount_key")]

    def __str__(self) -> str:
        return f"{self.status}/{self.review_state}/{self.health} in team {self.team_id}: {self.n}"


class SecretExpiryCount(models.Model):
    """Instances of a team, not deleted, whose secret (or certificate) expires on this day.

    Kept by expiry day rather than as "expiring soon", which changes with the date: the tiles
    sum a window of days around today, so nothing has to be recomputed at midnight.
    """

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    expires_on = models.DateField()
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "expires_on"], name="secretexpirycount_key")]

    def __str__(self) -> str:
        return f"secrets expiring {self.expires_on} in team {self.team_id}: {self.n}"


class TagCount(models.Model):
    """Instances of a team carrying this tag (deleted ones too: the tag filter can show them)."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=100)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "tag"], name="tagcount_key")]

    def __str__(self) -> str:
        return f"tag {self.tag} in team {self.team_id}: {self.n}"


class OwnerCount(models.Model):
    """Instances of a team owned by this user (deleted ones too), for the owner filter's choices."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "owner"], name="ownercount_key")]

    def __str__(self) -> str:
        return f"owner {self.owner_id} in team {self.team_id}: {self.n}"


class DailyProvisioning(models.Model):
    """A team's instances created on this day (UTC, as the chart shows days), how many of them
    reached Ready, and the sum of their seconds from creation to Ready (the chart's average)."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    created = models.BigIntegerField(default=0)
    ready = models.BigIntegerField(default=0)
    ready_seconds = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "day"], name="dailyprovisioning_key")]

    def __str__(self) -> str:
        return f"{self.day} in team {self.team_id}: {self.created} created, {self.ready} ready"
