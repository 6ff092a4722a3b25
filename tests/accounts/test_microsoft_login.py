"""Sign in with Microsoft through allauth's OpenID Connect provider, against the sandbox tenant over HTTP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client, override_settings

from setup_portal.accounts.roles import set_portal_admin
from setup_portal.sandbox.info import sandbox_info
from tests.conftest import PASSWORD, _make_user

pytestmark = pytest.mark.django_db


def microsoft_settings(**extra) -> dict:
    info = sandbox_info()
    app = {"provider_id": "microsoft", "name": "Microsoft", "client_id": info["sign_in_client_id"],
           "secret": info["sign_in_client_secret"],
           "settings": {"server_url": f"{info['backchannel_base']}/{info['tenant_id']}/v2.0",
                        "fetch_userinfo": False, "token_auth_method": "client_secret_post"}}
    return {"SOCIALACCOUNT_PROVIDERS": {"openid_connect": {"APPS": [app]}},
            "MICROSOFT_LOGIN_CA_FILE": info["ca_cert_path"], **extra}


def browser() -> Client:
    # The sandbox accepts the registered loopback redirect URI on any port, as Azure does.
    return Client(SERVER_NAME="127.0.0.1")


def sign_in_with_microsoft(sandbox, client: Client, username: str, password: str):
    start = client.post("/accounts/oidc/microsoft/login/")
    assert start.status_code == 302, start.content[:500]
    back = urlsplit(sandbox.browser_sign_in(start["Location"], username=username, password=password))
    assert back.path == "/accounts/oidc/microsoft/login/callback/", back
    return client.get(f"{back.path}?{back.query}")


def test_it_signs_in_the_portal_user_with_the_entra_address(sandbox, django_user_model):
    adele = _make_user(django_user_model, "adele", "admin")
    adele.email = "admin@contoso.onmicrosoft.com"
    adele.save(update_fields=["email"])
    info = sandbox_info()
    with override_settings(**microsoft_settings()):
        client = browser()
        page = client.get("/accounts/login/")
        assert b"Sign in with Microsoft" in page.content and b'name="password"' in page.content
        done = sign_in_with_microsoft(sandbox, client, info["username"], info["password"])
        assert done.status_code == 302 and done["Location"] == "/"
        assert client.get("/").context["user"] == adele
    account = SocialAccount.objects.get(user=adele)
    assert account.provider == "microsoft"
    assert account.extra_data["id_token"]["tid"] == info["tenant_id"]


def test_it_refuses_an_entra_user_the_portal_does_not_know(sandbox):
    with override_settings(**microsoft_settings()):
        client = browser()
        done = sign_in_with_microsoft(sandbox, client, "lee@contoso.onmicrosoft.com", "Sandbox-User-Pass-1!")
        assert "_auth_user_id" not in client.session
        assert done.status_code in {200, 302}
    assert not SocialAccount.objects.exists()


def test_it_keeps_the_password_for_break_glass_only_when_local_sign_in_is_off(django_user_model):
    set_portal_admin(_make_user(django_user_model, "root", None))
    _make_user(django_user_model, "bob", "admin")
    _make_user(django_user_model, "charlie", None)
    with override_settings(**microsoft_settings(LOCAL_LOGIN_ENABLED=False, BREAK_GLASS_USERS=["root"])):
        page = browser().get("/accounts/login/")
        assert b"Administrator sign-in" in page.content
        refused = browser().post("/accounts/login/", {"login": "bob", "password": PASSWORD})
        assert refused.status_code == 200 and b"Sign-in with a password is turned off" in refused.content
        # Listed but not a portal administrator: refused too.
        with override_settings(BREAK_GLASS_USERS=["root", "charlie"]):
            refused = browser().post("/accounts/login/", {"login": "charlie", "password": PASSWORD})
            assert b"Sign-in with a password is turned off" in refused.content
        allowed = browser().post("/accounts/login/", {"login": "root", "password": PASSWORD})
        assert allowed.status_code == 302
