"""The portal's TOTP stage: skipped after a Microsoft sign-in whose id_token says Entra did MFA, asked otherwise."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import override_settings

from setup_portal.teams.models import GroupMapping, Team
from tests.accounts.test_microsoft_login import (
    CRM_REVIEWERS,
    NESTOR,
    browser,
    microsoft_settings,
    sign_in_with_microsoft,
)

pytestmark = pytest.mark.django_db
MEGAN = ("megan@contoso.onmicrosoft.com", "Sandbox-Mfa-Pass-1!")  # the sandbox asks her for MFA: amr has "mfa"


def portal_user_with_totp(django_user_model, email: str):
    user = django_user_model.objects.create_user(username=email.split("@")[0], email=email)
    TOTP.activate(user, generate_totp_secret())
    return user


def test_it_does_not_ask_for_the_totp_after_entras_mfa(sandbox, django_user_model):
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=Team.objects.create(name="Sales"), role="teamlead")
    megan = portal_user_with_totp(django_user_model, MEGAN[0])
    sandbox.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": MEGAN[0], "member": True})
    try:
        with override_settings(**microsoft_settings()):
            client = browser()
            done = sign_in_with_microsoft(sandbox, client, *MEGAN)
    finally:
        sandbox.admin("POST", f"groups/{CRM_REVIEWERS}/members", {"upn": MEGAN[0], "member": False})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.session["_auth_user_id"] == str(megan.pk)


def test_it_asks_for_the_totp_when_entra_did_no_mfa(sandbox, django_user_model):
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=Team.objects.create(name="Sales"), role="teamlead")
    portal_user_with_totp(django_user_model, NESTOR[0])
    with override_settings(**microsoft_settings()):
        client = browser()
        done = sign_in_with_microsoft(sandbox, client, *NESTOR)
    assert done.status_code == 302 and done["Location"].startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session
