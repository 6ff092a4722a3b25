from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password

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

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if password:
            validate_password(password)
        return password


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, required=False)
