"""allauth's OpenID Connect login and callback views, with an adapter that can redeem the code
with a certificate (a client assertion) instead of the client secret."""

from __future__ import annotations

import logging
import re

from allauth.account.internal.decorators import login_not_required
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest
from django.shortcuts import render

from . import credential as credential_mod

logger = logging.getLogger(__name__)


class AssertionClient(OAuth2Client):
    """OAuth2Client that, given a credential, proves the portal with a client assertion."""

    credential: credential_mod.Credential | None = None

    def get_access_token(self, code, pkce_code_verifier=None, extra_data=None):
        if self.credential is not None:
            extra_data = {**(extra_data or {}), "client_assertion_type": credential_mod.ASSERTION_TYPE,
                          "client_assertion": self.credential.assertion(client_id=self.consumer_key,
                                                                        token_url=self.access_token_url)}
        return super().get_access_token(code, pkce_code_verifier=pkce_code_verifier, extra_data=extra_data)


class MicrosoftOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    client_class = AssertionClient

    def get_client(self, request: HttpRequest, app):
        client = super().get_client(request, app)
        certificate = app.settings.get("certificate")
        if certificate:
            client.basic_auth = False
            client.consumer_secret = ""  # empty values are left out: no client_secret beside the assertion
            try:
                client.credential = credential_mod.load(certificate["certificate_file"],
                                                        certificate.get("key_file", ""))
            except credential_mod.CredentialError as exc:  # the file changed since the settings checked it
                logger.error("Sign in with Microsoft: the sign-in certificate cannot be used: %s", exc)
                raise ImmediateHttpResponse(_refused(request, "", unreadable=True)) from None
        return client

    def get_access_token_data(self, request: HttpRequest, app, client, pkce_code_verifier=None):
        try:
            return super().get_access_token_data(request, app, client, pkce_code_verifier=pkce_code_verifier)
        except OAuth2Error as exc:
            if getattr(client, "credential", None) is None:
                raise  # the client secret: allauth's own error page, as before
            code = _aadsts(str(exc))
            logger.error("Sign in with Microsoft: the token endpoint refused the portal's certificate (%s)",
                         code or "no AADSTS code")
            raise ImmediateHttpResponse(_refused(request, code)) from None


def _aadsts(message: str) -> str:
    found = re.search(r"AADSTS\d+", message)
    return found.group(0) if found else ""


def _refused(request: HttpRequest, code: str, *, unreadable: bool = False):
    return render(request, "account/microsoft_refused.html",
                  {"certificate_refused": True, "code": code, "unreadable": unreadable}, status=502)


def _adapter_view(view_class):
    """allauth's view (login or callback) for the app `provider_id` names, with this adapter."""

    @login_not_required
    def view(request: HttpRequest, provider_id):
        try:
            return view_class.adapter_view(MicrosoftOAuth2Adapter(request, provider_id))(request)
        except SocialApp.DoesNotExist:
            raise Http404 from None

    return view


login = _adapter_view(OAuth2LoginView)
callback = _adapter_view(OAuth2CallbackView)
