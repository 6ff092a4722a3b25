from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class ClosedSignupAdapter(DefaultAccountAdapter):
    """No public sign-up: admins add users from the Users page."""

    def is_open_for_signup(self, request) -> bool:
        return False


class ClosedSocialSignupAdapter(DefaultSocialAccountAdapter):
    """"Sign in with Microsoft" only links to users an admin already added."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False
