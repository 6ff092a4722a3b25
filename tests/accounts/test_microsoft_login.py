"""Sign in with Microsoft through allauth's OpenID Connect provider, against the sandbox tenant over HTTP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client, override_settings

from setup_portal.audit.models import AuditEvent
from setup_portal.sandbox.info import sandbox_info
from setup_portal.teams.models import GroupMapping, Membership, Team
from setup_portal.teams.roles import is_portal_admin, set_portal_admin
from tests.conftest import PASSWORD, _make_user

pytestmark = pytest.mark.django_db


def microsoft_settings(**extra) -> dict:
    info = sandbox_info()
    app = {"provider_id": "microsoft", "name": "Microsoft", "client_id": info["sign_in_client_id"],
           "secret": info["sign_in_client_secret"],
           "settings": {"server_url": f"{info['backchannel_base']}/{info['tenant_id']}/v2.0",
                        "fetch_userinfo": False, "token_auth_method": "client_secret_post"}}
    return {"SOCIALACCOUNT_PROVIDERS": {"openid_connect": {"APPS": [app]}},
            "MICROSOFT_LOGIN_CA_FILE": info["ca_cert_path"],
            "MICROSOFT_LOGIN_GRAPH_URL": f"{info['backchannel_base']}/graph", **extra}


def browser() -> Client:
    # The sandbox accepts the registered loopback redirect URI on any port, as Azure does.
    return Client(SERVER_NAME="127.0.0.1")


def sign_in_with_microsoft(sandbox, client: Client, username: str, password: str):
    start = client.post("/accounts/oidc/microsoft/login/")
    assert start.status_code == 302, start.content[:500]
    back = urlsplit(sandbox.browser_sign_in(start["Location"], username=username, password=password))
    assert back.path == "/accounts/oidc/microsoft/login/callback/", back
    return client.get(f"{back.path}?{back.query}")


CRM_ADMINS = "5b7e3c1a-9d2f-4e8b-a6c4-1f0e2d3c4b5a"
CRM_REVIEWERS = "c4a8e2f6-3b1d-4f7a-9e5c-8d2b6a4f0e1c"
PORTAL_ADMINISTRATORS = "9e1f3a5c-7b2d-4c6e-8f0a-2b4d6e8f1a3c"
NESTOR = ("nestor@contoso.onmicrosoft.com", "Sandbox-Reviewer-Pass-1!")


def test_it_signs_in_the_portal_user_with_the_entra_address(sandbox, django_user_model):
    adele = _make_user(django_user_model, "adele", None)
    adele.email = "admin@contoso.onmicrosoft.com"
    adele.save(update_fields=["email"])
    team = Team.objects.create(name="Sales")
    GroupMapping.objects.create(group_id=CRM_ADMINS, team=team, role="admin")
    GroupMapping.objects.create(group_id=PORTAL_ADMINISTRATORS, portal_admin=True)
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
    assert Membership.objects.get(user=adele).role == "admin" and is_portal_admin(adele)
    assert adele.has_usable_password()  # a local account that now also signs in with Microsoft
    added = AuditEvent.objects.get(verb="membership.added")
    assert added.data["by"] == "group mapping" and added.actor_label == "system"


def test_it_makes_the_user_and_follows_their_groups_at_each_sign_in(sandbox, django_user_model):
    team = Team.objects.create(name="Sales")
    other = Team.objects.create(name="Support")
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=team, role="teamlead")
    with override_settings(**microsoft_settings()):
        client = browser()
        assert sign_in_with_microsoft(sandbox, client, *NESTOR).status_code == 302
        nestor = django_user_model.objects.get(email=NESTOR[0])
        assert not nestor.has_usable_password()
        assert Membership.objects.get(user=nestor, team=team).role == "teamlead"
        assert client.get("/").status_code == 200
        by_hand = Membership.objects.create(user=nestor, team=other, role="admin")
        client.post("/accounts/logout/")
        sandbox.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": NESTOR[0], "member": False})
        try:
            refused = sign_in_with_microsoft(sandbox, client, *NESTOR)
        finally:
            sandbox.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": NESTOR[0], "member": True})
    assert refused.status_code == 403 and b"None of your groups" in refused.content
    assert "_auth_user_id" not in client.session
    assert list(Membership.objects.filter(user=nestor)) == [by_hand]  # the hand-made one stays
    assert AuditEvent.objects.get(verb="membership.removed").data["by"] == "group mapping"


def test_it_reads_the_groups_from_graph_past_the_overage(sandbox, django_user_model):
    team = Team.objects.create(name="Sales")
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=team, role="teamlead")
    with override_settings(**microsoft_settings()):
        client = browser()
        done = sign_in_with_microsoft(sandbox, client, "grady@contoso.onmicrosoft.com", "Sandbox-Overage-Pass-1!")
        assert done.status_code == 302, done.content[:300]
    grady = django_user_model.objects.get(email="grady@contoso.onmicrosoft.com")
    assert "groups" not in SocialAccount.objects.get(user=grady).extra_data["id_token"]
    assert Membership.objects.get(user=grady, team=team).role == "teamlead"


def test_it_says_so_when_graph_does_not_answer(sandbox, django_user_model):
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=Team.objects.create(name="Sales"), role="teamlead")
    info = sandbox_info()
    with override_settings(**microsoft_settings(MICROSOFT_LOGIN_GRAPH_URL=f"{info['backchannel_base']}/nowhere")):
        client = browser()
        failed = sign_in_with_microsoft(sandbox, client, "grady@contoso.onmicrosoft.com", "Sandbox-Overage-Pass-1!")
    assert failed.status_code == 503 and b"Microsoft Graph answered 404" in failed.content
    assert "_auth_user_id" not in client.session


def test_it_refuses_an_entra_user_with_no_mapped_group(sandbox, django_user_model):
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=Team.objects.create(name="Sales"), role="teamlead")
    with override_settings(**microsoft_settings()):
        client = browser()
        refused = sign_in_with_microsoft(sandbox, client, "lee@contoso.onmicrosoft.com", "Sandbox-User-Pass-1!")
    assert refused.status_code == 403
    assert b"lee@contoso.onmicrosoft.com" in refused.content and b"None of your groups" in refused.content
    assert "_auth_user_id" not in client.session
    assert not django_user_model.objects.filter(email__iexact="lee@contoso.onmicrosoft.com").exists()
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
