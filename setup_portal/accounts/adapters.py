import functools

import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings as socialaccount_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth import get_user_model
from django.shortcuts import render

from . import entra, graph


class ClosedSignupAdapter(DefaultAccountAdapter):
    """No public sign-up: admins add users from the Users page."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def get_login_stages(self) -> list[str]:
        mfa = "allauth.mfa.stages.AuthenticateStage"
        return ["setup_portal.accounts.stages.PortalMfaStage" if stage == mfa else stage
                for stage in super().get_login_stages()]


class ClosedSocialSignupAdapter(DefaultSocialAccountAdapter):
    """"Sign in with Microsoft": users come from group mappings (entra.py), never from a sign-up form."""

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
        """Every sign-in with Microsoft: the portal user (linked by address the first time, else
        made) gets the memberships its Entra groups are mapped to; no mapped group, no entry."""
        claims = sociallogin.account.extra_data.get("id_token") or {}
        group_ids = entra.group_ids_in(claims)
        if group_ids is None:  # the groups overage claim: too many groups for the token
            try:
                with self.get_requests_session() as session:
                    group_ids = graph.member_groups(session, graph_url=settings.MICROSOFT_LOGIN_GRAPH_URL,
                                                    access_token=sociallogin.token.token)
            except graph.GraphError as exc:
                raise ImmediateHttpResponse(render(request, "account/microsoft_refused.html", {
                    "who": _who(claims), "graph_error": str(exc)}, status=503)) from None
        user = sociallogin.user if sociallogin.is_existing else _user_with_address(claims)
        user = entra.do_sign_in_by_group_mapping(user, claims, group_ids)
        if user is None:
            raise ImmediateHttpResponse(
                render(request, "account/microsoft_refused.html", {"who": _who(claims)}, status=403))
        if not sociallogin.is_existing:
            sociallogin.connect(request, user)


def _who(claims: dict) -> str:
    return claims.get("preferred_username") or claims.get("email") or claims.get("name") or "an Entra user"


def _user_with_address(claims: dict):
    """The active portal user with the id_token's address. The tenant is fixed (settings refuse
    "common"), so only the company's own directory vouches for the address."""
    address = claims.get("email") or claims.get("preferred_username") or ""
    if not address:
        return None
    return get_user_model().objects.filter(email__iexact=address, is_active=True).first()
