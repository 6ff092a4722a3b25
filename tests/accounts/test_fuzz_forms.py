"""Sign-in, password and user forms: whatever is typed, never a 500, and refused input changes no user."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from setup_portal.teams.models import Membership, Team
from setup_portal.teams.roles import set_portal_admin, set_role
from tests import fuzz
from tests.conftest import PASSWORD

User = get_user_model()


def _users() -> list[dict]:
    return [fuzz.snapshot(user) | {"groups": sorted(user.groups.values_list("name", flat=True))}
            for user in User.objects.order_by("pk")]


def _fresh(client: Client) -> None:
    """Failed sign-ins and resets are rate-limited; each example starts with a clean slate so it
    reaches the form instead of the 429."""
    cache.clear()
    client.cookies.clear()


def test_it_refuses_a_huge_user_name_at_sign_in_in_plain_words(alice):
    # On SQLite the lookup of a 100 kB name failed with "LIKE or GLOB pattern too complex".
    response = Client().post("/accounts/login/", {"login": fuzz.HUGE, "password": PASSWORD})
    assert response.status_code == 200
    assert "No user name or e-mail address here is longer than 254 characters" in response.content.decode()
    assert 'maxlength="254"' in response.content.decode()


def test_the_longest_e_mail_address_still_signs_in(alice):
    address = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
    User.objects.filter(pk=alice.pk).update(email=address)
    response = Client().post("/accounts/login/", {"login": address, "password": PASSWORD})
    assert len(address) == 254 and response.status_code == 302


SIGN_IN = {"login": fuzz.huge_or_hostile, "password": fuzz.huge_or_hostile, "remember": fuzz.hostile_text,
           "next": fuzz.hostile_text, "\x00": fuzz.hostile_text}


@fuzz.fuzz(40)
@given(data=fuzz.form_data(SIGN_IN), next_param=fuzz.hostile_text)
def test_no_sign_in_gives_a_500(alice, data, next_param):
    client = Client()
    _fresh(client)
    before = _users()
    response = fuzz.post(client, f"/accounts/login/?next={fuzz.quote_path(next_param)}", data)
    fuzz.assert_answered(response)
    if response.status_code == 302:  # a valid sign-in goes somewhere on this site, never off it
        assert response["Location"].startswith("/") and not response["Location"].startswith("//")
    assert _users() == before or response.status_code == 302  # a sign-in only stamps last_login


@pytest.mark.parametrize("enabled", [True, False])
def test_no_password_reset_request_gives_a_500(alice, settings, enabled):
    settings.PASSWORD_RESET_ENABLED = enabled
    client = Client()

    @fuzz.fuzz(20)
    @given(data=fuzz.form_data({"email": fuzz.huge_or_hostile, "\x00": fuzz.hostile_text}),
           uidb36=st.one_of(st.from_regex(r"\A[0-9A-Za-z]{1,30}\Z"), st.just("z" * 200)), key=fuzz.hostile_text,
           passwords=fuzz.form_data({"password1": fuzz.huge_or_hostile, "password2": fuzz.huge_or_hostile}))
    def check(data, uidb36, key, passwords):
        _fresh(client)
        before = _users()
        fuzz.assert_answered(fuzz.post(client, "/accounts/password/reset/", data))
        reset = f"/accounts/password/reset/key/{uidb36}-{fuzz.quote_path(key) or 'x'}/"
        fuzz.assert_answered(client.get(reset))
        fuzz.assert_answered(fuzz.post(client, reset, passwords))
        assert _users() == before

    check()


def test_no_authenticator_code_gives_a_500_or_signs_in(charlie):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(charlie, generate_totp_secret())
    client = Client()

    @fuzz.fuzz(20)
    @given(data=fuzz.form_data({"code": fuzz.huge_or_hostile, "\x00": fuzz.hostile_text}))
    def check(data):
        _fresh(client)
        response = client.post("/accounts/login/", {"login": "charlie", "password": PASSWORD})
        assert response.status_code == 302 and "2fa/authenticate" in response["Location"]
        fuzz.assert_answered(fuzz.post(client, "/accounts/2fa/authenticate/", data))
        assert "_auth_user_id" not in client.session  # no random text is the code

    check()


SIGNED_IN_FORMS = {
    "/accounts/password/change/": {"oldpassword": fuzz.huge_or_hostile, "password1": fuzz.huge_or_hostile,
                                   "password2": fuzz.huge_or_hostile},
    "/accounts/reauthenticate/": {"password": fuzz.huge_or_hostile, "next": fuzz.hostile_text},
    "/accounts/email/": {"email": fuzz.huge_or_hostile, "action_add": fuzz.hostile_text,
                         "action_remove": fuzz.hostile_text, "action_primary": fuzz.hostile_text},
    "/accounts/2fa/totp/activate/": {"code": fuzz.huge_or_hostile, "signed_secret": fuzz.hostile_text},
    "/accounts/2fa/reauthenticate/": {"code": fuzz.huge_or_hostile},
    "/accounts/2fa/recovery-codes/generate/": {"code": fuzz.hostile_text},
    "/accounts/logout/": {"next": fuzz.hostile_text},
}


@pytest.mark.parametrize("path", list(SIGNED_IN_FORMS))
def test_no_account_form_gives_a_500(alice, bob, path):
    @fuzz.fuzz(10)
    @given(data=fuzz.form_data(SIGNED_IN_FORMS[path]))
    def check(data):
        client = Client()
        client.force_login(bob)
        before = _users()
        fuzz.assert_answered(fuzz.get(client, path, data))
        fuzz.assert_answered(fuzz.post(client, path, data))
        # No random input knows bob's password or a TOTP code: nobody's account changed.
        assert _users() == before

    check()


ADD_USER = {"username": fuzz.huge_or_hostile, "email": fuzz.huge_or_hostile, "role": fuzz.hostile_text,
            "team": fuzz.hostile_text, "portal_admin": fuzz.hostile_text, "password": fuzz.huge_or_hostile}


@fuzz.fuzz(25)
@given(data=fuzz.form_data(ADD_USER))
def test_no_new_user_gives_a_500(alice_client, bob, data):
    before = _users()
    response = fuzz.post(alice_client, "/users/add/", data)
    fuzz.assert_answered(response, lambda status: status in (200, 400))
    if response.status_code == 400:
        assert _users() == before
    else:  # a valid new user: the existing ones are untouched
        assert _users()[:len(before)] == before and len(_users()) == len(before) + 1
    # Case-insensitively unique names: the next example may try the same one.
    User.objects.exclude(username__in=["alice", "bob"]).delete()


def _memberships() -> list[tuple]:
    return list(Membership.objects.order_by("pk").values_list("user_id", "team_id", "role"))


@fuzz.fuzz(20)
@given(data=fuzz.form_data({"role": fuzz.hostile_text, "confirmed": fuzz.hostile_text, "back": fuzz.hostile_text,
                            "team": fuzz.hostile_text, "portal_admin": fuzz.hostile_text,
                            "\x00": fuzz.hostile_text}),
       some_id=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.just(10**100)))
def test_no_membership_change_or_id_gives_a_500(alice_client, bob, data, some_id):
    membership = Membership.objects.get(user=bob)
    before = _memberships()
    for path in (f"/users/memberships/{membership.pk}/role/", f"/users/memberships/{membership.pk}/remove/",
                 f"/users/{bob.pk}/teams/", f"/users/{bob.pk}/portal-admin/"):
        fuzz.assert_answered(fuzz.post(alice_client, path, data), lambda status: status in (200, 302, 400))
    if data.get("confirmed") != "yes":  # nothing changes before it is confirmed (adding needs no confirmation)
        assert [m for m in _memberships() if m[0] != bob.pk or m[1] == membership.team_id] == before
    # Put bob back as a team lead of the Default team only, and not a portal administrator.
    Membership.objects.filter(user=bob).exclude(team_id=membership.team_id).delete()
    set_role(bob, "teamlead", membership.team)
    set_portal_admin(bob, False)
    fuzz.assert_answered(fuzz.get(alice_client, f"/users/{some_id}/", data))
    fuzz.assert_answered(fuzz.get(alice_client, f"/users/teams/{some_id}/", data))
    fuzz.assert_answered(fuzz.post(alice_client, f"/users/memberships/{some_id}/role/", data))
    fuzz.assert_answered(fuzz.get(alice_client, "/users/", data))


@fuzz.fuzz(20)
@given(data=fuzz.form_data({"name": fuzz.huge_or_hostile, "user": fuzz.hostile_text, "role": fuzz.hostile_text}))
def test_no_team_form_gives_a_500(alice_client, bob, data):
    team = Team.objects.default()
    for path in ("/users/teams/", f"/users/teams/{team.pk}/rename/", f"/users/teams/{team.pk}/members/"):
        fuzz.assert_answered(fuzz.post(alice_client, path, data), lambda status: status in (200, 302, 400))
    Team.objects.exclude(pk=team.pk).delete()
    Team.objects.filter(pk=team.pk).update(name="Default team")
