from allauth.account.forms import LoginForm
from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator

from .actions import validate_new_password

ROLE_CHOICES = [("admin", "Admin — sets up and manages instances and users"),
                ("teamlead", "Team lead — reviews instances, read-only"),
                ("", "No role — can sign in, sees nothing")]


class AddUserForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+\Z", max_length=150,
                                error_messages={"invalid": "Use letters, digits and @ . + - _ only."})
    email = forms.EmailField(required=False, help_text="Used for password resets and secret-expiry reminders.")
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect, initial="teamlead", required=False)
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               help_text="Leave empty to generate one; it is shown to you once.")

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this name already exists.")
        return username

    def clean(self):
        # After the field checks: the password is compared with the name and address given.
        data = super().clean()
        password = data.get("password")
        if password:
            # A refused name still counts: the password must not resemble what was typed.
            username = data.get("username") or self.data.get("username", "")
            try:
                validate_new_password(password, username=username, email=data.get("email") or "")
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, required=False)


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
