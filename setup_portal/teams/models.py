"""Teams and memberships. Permissions built on them live in teams/permissions.py."""

from __future__ import annotations

from django.conf import settings
from django.db import models

DEFAULT_TEAM_NAME = "Default team"


class TeamQuerySet(models.QuerySet):
    def default(self) -> Team:
        """The team migrated data landed in, and where a team-less call puts things."""
        return self.get_or_create(name=DEFAULT_TEAM_NAME)[0]


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        TEAM_LEAD = "teamlead", "Team lead"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    # Made (and kept in step at every sign-in with Microsoft) by a GroupMapping; one added by hand
    # is never touched by the mappings.
    by_group_mapping = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_one_per_user_and_team")]

    def __str__(self) -> str:
        return f"{self.user} {self.get_role_display()} of {self.team}"


class GroupMapping(models.Model):
    """Members of an Entra ID group get a role in a team, or portal administration, or both."""

    group_id = models.UUIDField(help_text="The group's object ID in Entra ID.")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="group_mappings")
    role = models.CharField(max_length=16, choices=Membership.Role.choices, blank=True)
    portal_admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "team__name"]
        constraints = [
            models.UniqueConstraint(fields=["group_id", "team"], name="group_mapping_one_per_group_and_team"),
            models.CheckConstraint(condition=(models.Q(team__isnull=False) & ~models.Q(role=""))
                                   | (models.Q(team__isnull=True) & models.Q(role="") & models.Q(portal_admin=True)),
                                   name="group_mapping_grants_something"),
        ]

    def __str__(self) -> str:
        parts = [f"{self.get_role_display()} of {self.team}"] if self.team_id else []
        parts += ["portal administrator"] if self.portal_admin else []
        return f"{self.group_id} → {', '.join(parts)}"


def default_team_id() -> int:
    """Where Setup.save() and Instance.save() put a row that comes without a team (code older
    than teams); the wizard and provisioning always pass the team."""
    return Team.objects.default().pk


def roles_of(user) -> dict[int, str]:
    """{team id: role} for this user, read once and kept on the user object (one request)."""
    if not user.is_authenticated:
        return {}
    cached = getattr(user, "_portal_team_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user_id=user.pk).values_list("team_id", "role"))
        user._portal_team_roles = cached
    return cached


def forget_roles(user) -> None:
    user._portal_team_roles = None
