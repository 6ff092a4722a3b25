import functools

import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount import app_settings as socialaccount_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth import get_user_model


class ClosedSignupAdapter(DefaultAccountAdapter):
    """No public sign-up: admins add users from the Users page."""

    def is_open_for_signup(self, request) -> bool:
        return False


class ClosedSocialSignupAdapter(DefaultSocialAccountAdapter):
    """"Sign in with Microsoft" only links to users an admin already added."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False

    def get_requests_session(self) -> requests.Session:
        # Discovery, token and keys calls trust MICROSOFT_LOGIN_CA_FILE (the sandbox's CA) when set;
        # trust_env off, or a machine-wide REQUESTS_CA_BUNDLE would win over `verify`.
        session = requests.Session()
        if settings.MICROSOFT_LOGIN_CA_FILE:
            session.trust_env = False
            session.verify = settings.MICROSOFT_LOGIN_CA_FILE
        session.request = functools.partial(session.request, timeout=socialaccount_settings.REQUESTS_TIMEOUT)
        return session

    def pre_social_login(self, request, sociallogin) -> None:
        """A first sign-in links the Entra account to the active portal user with its e-mail address.

        The tenant is fixed (settings refuse "common"), so only the company's own directory
        vouches for the address."""
        if sociallogin.is_existing:
            return
        claims = sociallogin.account.extra_data.get("id_token") or {}
        address = claims.get("email") or claims.get("preferred_username") or ""
        if not address:
            return
        user = get_user_model().objects.filter(email__iexact=address, is_active=True).first()
        if user is not None:
            sociallogin.connect(request, user)
