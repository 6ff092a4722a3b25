"""What the management API answers and takes about teams, memberships and users (portal administrators').

As for instances: read-only output views of the models, input that checks JSON types and the
patterns the schema shows; the Users and Teams pages' forms run afterwards.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from setup_portal.accounts.forms import TEAM_NAME_MAX_LENGTH, AddUserForm
from setup_portal.teams.models import Membership
from setup_portal.teams.roles import is_portal_admin
from setup_portal.text import GUID_PATTERN

from .fields import StrictBooleanField, StrictCharField, StrictChoiceField, StrictIntegerField


class MemberOut(serializers.Serializer):
    membership = serializers.IntegerField(source="id", help_text="The membership's id: change its role or remove "
                                                                 "it under /api/v1/memberships/{id}.")
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class TeamOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    members = MemberOut(many=True, source="memberships.all")

    def get_url(self, team) -> str:
        return reverse("rest:team", args=[team.pk])


class UserTeamOut(serializers.Serializer):
    membership = serializers.IntegerField(source="id")
    team = serializers.IntegerField(source="team_id")
    team_name = serializers.CharField(source="team.name")
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class UserOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_active = serializers.BooleanField()
    portal_administrator = serializers.SerializerMethodField()
    last_login = serializers.DateTimeField(allow_null=True)
    teams = UserTeamOut(many=True, source="memberships.all")

    def get_url(self, user) -> str:
        return reverse("rest:user", args=[user.pk])

    def get_portal_administrator(self, user) -> bool:
        return is_portal_admin(user)


class NewUserOut(UserOut):
    password = serializers.CharField(help_text="The one-time password to pass on to the person. Shown in this "
                                               "answer only; they sign in with it and choose their own.")


class MembershipOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    team = serializers.IntegerField(source="team_id")
    team_name = serializers.CharField(source="team.name")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    created_at = serializers.DateTimeField()

    def get_url(self, membership) -> str:
        return reverse("rest:membership", args=[membership.pk])


# Largest id a database row can have (a 64-bit key): a bigger number names nothing and is refused as a type error.
MAX_ID = 2**63 - 1


# What the Teams page takes as a name, for the schema: trimmed of spaces (Python's whitespace, spelled out
# for ECMA regexes), at least one character left, and no control character inside but a tab.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROL = r"\x00-\x08\x0a-\x1f\x7f"
TEAM_NAME_PATTERN = f"^[{_SPACE}]*[^{_CONTROL}{_SPACE}]([^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?[{_SPACE}]*$"


@extend_schema_field({"type": "string", "maxLength": TEAM_NAME_MAX_LENGTH, "pattern": TEAM_NAME_PATTERN,
                      "description": "Unique, whatever the case; spaces are tidied (trimmed, runs made one)."})
class TeamNameField(StrictCharField):
    """Shown with its pattern in the schema, and held to it here (a 400, as for any value off the schema);
    the Teams page's form then checks what the pattern cannot say: that the name is not taken."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(TEAM_NAME_PATTERN, message="Give the team a name, without invisible "
                                                                          "control characters."))


class TeamIn(serializers.Serializer):
    name = TeamNameField(max_length=TEAM_NAME_MAX_LENGTH)


class MemberIn(serializers.Serializer):
    user = StrictIntegerField(min_value=1, max_value=MAX_ID, help_text="The user's id (an active user not in "
                                                                       "the team yet).")
    role = StrictChoiceField(choices=Membership.Role.choices)


class RoleIn(serializers.Serializer):
    role = StrictChoiceField(choices=Membership.Role.choices)


# The Add user form's pattern, shown in the schema (the form is what checks it); ECMA regexes have no \Z.
USERNAME_PATTERN = AddUserForm.base_fields["username"].regex.pattern.removesuffix("\\Z") + "$"


@extend_schema_field({"type": "string", "maxLength": 150, "pattern": USERNAME_PATTERN,
                      "description": "Letters, digits and @ . + - _ only; unique, whatever the case."})
class UsernameField(StrictCharField):
    """Shown with its pattern in the schema; the Add user form checks it."""


@extend_schema_field({"type": "string", "format": "email", "maxLength": 254,
                      "description": "Used for password resets and secret-expiry reminders; may be empty."})
class EmailField(StrictCharField):
    """Shown as an address in the schema; the Add user form checks it."""


class UserIn(serializers.Serializer):
    username = UsernameField(max_length=150)
    email = EmailField(required=False, allow_blank=True, max_length=254)
    team = StrictIntegerField(required=False, min_value=1, max_value=MAX_ID,
                              help_text="The team the role is held in (its id); required with `role`.")
    role = StrictChoiceField(choices=Membership.Role.choices, required=False,
                             help_text="Leave it out for “no role yet”: the person can sign in and sees nothing.")
    portal_admin = StrictBooleanField(required=False, default=False,
                                      help_text="Manages users, teams and memberships, and sees every team.")


class GroupMappingOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    group_id = serializers.UUIDField(help_text="The Entra ID group's object ID.")
    team = serializers.IntegerField(source="team_id", allow_null=True, help_text="The team its members get "
                                                                                 "`role` in; null for none.")
    team_name = serializers.CharField(source="team.name", allow_null=True)
    role = serializers.ChoiceField(choices=[("", "none"), *Membership.Role.choices],
                                   help_text="Empty when the mapping gives no team role.")
    portal_admin = serializers.BooleanField(help_text="Its members are portal administrators.")
    created_at = serializers.DateTimeField()

    def get_url(self, mapping) -> str:
        return reverse("rest:group-mapping", args=[mapping.pk])


@extend_schema_field({"type": "string", "format": "uuid", "pattern": GUID_PATTERN,
                      "description": "The group's object ID (Entra admin center: Groups › the group › Object ID)."})
class GroupIdField(StrictCharField):
    """Shown as a UUID in the schema and held to its pattern here (400); the page's form reads it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(GUID_PATTERN, message="Send the group's object ID, such as "
                                                                    "5b7e3c1a-9d2f-4e8b-a6c4-1f0e2d3c4b5a."))


class GroupMappingIn(serializers.Serializer):
    group_id = GroupIdField(max_length=36)
    team = StrictIntegerField(required=False, min_value=1, max_value=MAX_ID,
                              help_text="The team its members get `role` in (its id); needs `role`.")
    role = StrictChoiceField(choices=Membership.Role.choices, required=False,
                             help_text="The role in `team`.")
    portal_admin = StrictBooleanField(required=False, default=False,
                                      help_text="Its members are portal administrators. A mapping gives a team "
                                                "role, portal administration, or both.")
