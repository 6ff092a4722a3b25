from allauth.account.forms import LoginForm
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator

from setup_portal.teams import roles
from setup_portal.teams.models import Membership, Team

from .actions import validate_new_password

ROLE_CHOICES = [("admin", "Admin — sets up and manages the team's instances"),
                ("teamlead", "Team lead — reviews the team's instances, read-only")]
ADD_ROLE_CHOICES = ROLE_CHOICES + [("", "No role yet — can sign in, sees nothing")]
TEAM_NAME_MAX_LENGTH = Team._meta.get_field("name").max_length


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Team) -> str:
        return obj.name


class AddUserForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+\Z", max_length=150,
                                error_messages={"invalid": "Use letters, digits and @ . + - _ only."})
    email = forms.EmailField(required=False, help_text="Used for password resets and secret-expiry reminders.")
    # Needed for a role (only "No role yet" goes without; see clean()).
    team = TeamChoiceField(queryset=Team.objects.all(), empty_label="Pick a team",
                           error_messages={"required": "Pick the team this person gets the role in.",
                                           "invalid_choice": "Pick one of the listed teams."})
    role = forms.ChoiceField(label="Role in that team", choices=ADD_ROLE_CHOICES, widget=forms.RadioSelect,
                             initial="teamlead", required=False,
                             error_messages={"invalid_choice": "Pick one of the listed roles."})
    portal_admin = forms.BooleanField(
        label="Portal administrator — manages users, teams and memberships, and sees every team", required=False)
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               help_text="Leave empty to generate one; it is shown to you once.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        teams = list(Team.objects.all()[:2])
        if len(teams) == 1:  # one team: nothing to pick
            self.fields["team"].initial = teams[0].pk

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this name already exists.", code="taken")
        return username

    def clean(self):
        # After the field checks: the password is compared with the name and address given.
        data = super().clean()
        if not data.get("role") and "role" not in self.errors:
            # No role, no team: whatever the team field said does not matter.
            self._errors.pop("team", None)
            data["team"] = None
        password = data.get("password")
        if password:
            # A refused name still counts: the password must not resemble what was typed.
            username = data.get("username") or self.data.get("username", "")
            try:
                validate_new_password(password, username=username, email=data.get("email") or "")
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class RoleForm(forms.Form):
    # A new member starts with the lesser role unless picked otherwise.
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.TEAM_LEAD,
                             error_messages={"required": "Pick a role.",
                                             "invalid_choice": "Pick one of the listed roles."})


class AddToTeamForm(RoleForm):
    """On a user's page: a team they are not in yet, and the role there."""

    team = TeamChoiceField(queryset=Team.objects.none(), empty_label="Pick a team",
                           error_messages={"required": "Pick a team.",
                                           "invalid_choice": "Pick one of the listed teams; the user may be in "
                                                             "that one already."})
    field_order = ["team", "role"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.exclude(memberships__user=user)


class AddMemberForm(RoleForm):
    """On a team's page: a user not in it yet, and the role there."""

    user = forms.ModelChoiceField(queryset=get_user_model().objects.none(), empty_label="Pick a user",
                                  error_messages={"required": "Pick a user.",
                                                  "invalid_choice": "Pick one of the listed users; they may be in "
                                                                    "this team already."})
    field_order = ["user", "role"]

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (get_user_model().objects.filter(is_active=True)
                                        .exclude(memberships__team=team).order_by("username"))


class GroupMappingForm(forms.Form):
    group_id = forms.UUIDField(label="Entra ID group object ID",
                               help_text="In the Entra admin center: Groups › the group › Object ID.",
                               error_messages={"required": "Give the group's object ID.",
                                               "invalid": "An object ID looks like "
                                                          "5b7e3c1a-9d2f-4e8b-a6c4-1f0e2d3c4b5a."})
    team = TeamChoiceField(queryset=Team.objects.all(), required=False, empty_label="No team",
                           error_messages={"invalid_choice": "Pick one of the listed teams."})
    role = forms.ChoiceField(label="Role in that team", choices=[("", "—")] + ROLE_CHOICES, required=False,
                             error_messages={"invalid_choice": "Pick one of the listed roles."})
    portal_admin = forms.BooleanField(
        label="Portal administrator — manages users, teams and memberships, and sees every team", required=False)


class TeamNameForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=TEAM_NAME_MAX_LENGTH,
                           error_messages={"required": "Give the team a name.",
                                           "max_length": f"Keep the name under {TEAM_NAME_MAX_LENGTH + 1} "
                                                         "characters."})

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in self.cleaned_data["name"].replace("\t", " ")):
            raise forms.ValidationError("The name contains invisible control characters; type it again.")
        if not name:
            raise forms.ValidationError("Give the team a name.")
        return name


class PortalAdminForm(forms.Form):
    portal_admin = forms.TypedChoiceField(choices=[("yes", "yes"), ("no", "no")], coerce=lambda v: v == "yes",
                                          error_messages={"required": "Say yes or no.",
                                                          "invalid_choice": "Say yes or no."})


# The longest user name (150) or e-mail address (254) the portal stores. allauth's field has no
# limit when both sign-in methods are on, and a 100 kB name broke the user lookup on SQLite.
LOGIN_MAX_LENGTH = 254


class PortalLoginForm(LoginForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["login"]
        field.max_length = LOGIN_MAX_LENGTH
        field.validators.append(MaxLengthValidator(
            LOGIN_MAX_LENGTH, message=f"No user name or e-mail address here is longer than {LOGIN_MAX_LENGTH} "
                                      "characters; check what you typed."))
        field.widget.attrs["maxlength"] = str(LOGIN_MAX_LENGTH)

    def clean(self):
        # With local sign-in off, only a break-glass portal administrator may use a password; the
        # others are refused before their password is checked, so it cannot be guessed here either.
        if settings.LOCAL_LOGIN_ENABLED or self.errors:
            return super().clean()
        if not _is_break_glass(self.cleaned_data.get("login", "")):
            raise forms.ValidationError(LOCAL_LOGIN_OFF, code="local_login_off")
        data = super().clean()
        if getattr(self, "user", None) is not None and not roles.is_portal_admin(self.user):
            raise forms.ValidationError(LOCAL_LOGIN_OFF, code="local_login_off")
        return data


LOCAL_LOGIN_OFF = "Sign-in with a password is turned off on this portal: use Sign in with Microsoft."


def _is_break_glass(login: str) -> bool:
    """`login` (a user name or e-mail address) names one of BREAK_GLASS_USERS."""
    names = {name.lower() for name in settings.BREAK_GLASS_USERS}
    if login.lower() in names:
        return True
    return any(user.username.lower() in names
               for user in get_user_model().objects.filter(email__iexact=login).only("username")[:2])
