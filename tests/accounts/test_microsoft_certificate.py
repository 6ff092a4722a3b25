"""Sign in with Microsoft with a certificate (a signed client assertion) instead of the client secret,
through the real allauth flow against the sandbox tenant."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from config.environment import microsoft_login_app_from
from setup_portal.accounts.microsoft import credential
from setup_portal.azure.certificates import generate_certificate, x5t_s256
from setup_portal.sandbox.info import sandbox_info
from setup_portal.teams.models import GroupMapping, Membership, Team
from tests.accounts.test_foundation import run_manage
from tests.accounts.test_microsoft_login import CRM_REVIEWERS, NESTOR, browser, sign_in_with_microsoft

pytestmark = pytest.mark.django_db


def certificate_files(tmp_path: Path, *, one_file: bool = False) -> tuple[str, str, str]:
    """(certificate PEM, certificate file, key file) of a new certificate; one PEM file holds both
    when `one_file` (the key file is then "")."""
    made = generate_certificate("Portal sign-in")
    cert_file, key_file = tmp_path / "sign-in.pem", tmp_path / "sign-in.key"
    if one_file:
        cert_file.write_text(made.certificate_pem + made.private_key_pem)
        return made.certificate_pem, str(cert_file), ""
    cert_file.write_text(made.certificate_pem)
    key_file.write_text(made.private_key_pem)
    return made.certificate_pem, str(cert_file), str(key_file)


def certificate_settings(certificate_file: str, key_file: str) -> dict:
    info = sandbox_info()
    app = microsoft_login_app_from(client_id=info["sign_in_client_id"], tenant=info["tenant_id"],
                                   authority=info["backchannel_base"], secret="",
                                   certificate_file=certificate_file, key_file=key_file)
    return {"SOCIALACCOUNT_PROVIDERS": {"openid_connect": {"APPS": [app]}},
            "MICROSOFT_LOGIN_CA_FILE": info["ca_cert_path"],
            "MICROSOFT_LOGIN_GRAPH_URL": f"{info['backchannel_base']}/graph"}


def _part(jwt: str, index: int) -> dict:
    raw = jwt.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def test_it_signs_in_with_a_certificate_instead_of_the_secret(sandbox, django_user_model, tmp_path):
    team = Team.objects.create(name="Sales")
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=team, role="teamlead")
    info = sandbox_info()
    pem, cert_file, _ = certificate_files(tmp_path, one_file=True)
    sandbox.admin("POST", f"apps/{info['sign_in_client_id']}/certificates", {"certificate": pem})
    sent = []
    real = credential.Credential.assertion

    def spy(self, **kwargs):
        sent.append(real(self, **kwargs))
        return sent[-1]

    with override_settings(**certificate_settings(cert_file, "")), \
            mock.patch.object(credential.Credential, "assertion", spy):
        client = browser()
        done = sign_in_with_microsoft(sandbox, client, *NESTOR)
        assert done.status_code == 302 and done["Location"] == "/", done.content[:500]
        assert client.get("/").context["user"].email == NESTOR[0]
    assert Membership.objects.get(user__email=NESTOR[0], team=team).role == "teamlead"
    # The code was redeemed with an assertion as Microsoft documents it (the app holds no secret here).
    [assertion] = sent
    header, claims = _part(assertion, 0), _part(assertion, 1)
    assert header == {"alg": "PS256", "typ": "JWT", "x5t#S256": x5t_s256(pem)}
    assert claims["aud"] == f"{info['backchannel_base']}/{info['tenant_id']}/oauth2/v2.0/token"
    assert claims["iss"] == claims["sub"] == info["sign_in_client_id"]
    assert claims["jti"] and claims["nbf"] == claims["iat"] and claims["exp"] == claims["iat"] + 600


def test_it_refuses_an_unregistered_certificate_with_a_clear_page(sandbox, django_user_model, tmp_path, caplog):
    GroupMapping.objects.create(group_id=CRM_REVIEWERS, team=Team.objects.create(name="Sales"), role="teamlead")
    _, cert_file, key_file = certificate_files(tmp_path)  # never uploaded to the sign-in app
    with override_settings(**certificate_settings(cert_file, key_file)):
        client = browser()
        refused = sign_in_with_microsoft(sandbox, client, *NESTOR)
    assert refused.status_code == 502
    assert b"Microsoft did not accept the portal's certificate" in refused.content
    assert b"AADSTS700027" in refused.content and b"MICROSOFT_LOGIN_CERTIFICATE_FILE" in refused.content
    assert "_auth_user_id" not in client.session
    assert not django_user_model.objects.filter(email__iexact=NESTOR[0]).exists()
    key = Path(key_file).read_text()
    body = key.split("-----")[2].strip().splitlines()[1]  # a line of the key's base64
    assert body.encode() not in refused.content and body not in caplog.text
    assert "AADSTS700027" in caplog.text


def test_a_bad_certificate_key_file_stops_the_settings_naming_the_variable(tmp_path):
    _, cert_file, key_file = certificate_files(tmp_path)
    given = {"client_id": "11111111-2222-3333-4444-555555555555", "tenant": "contoso.onmicrosoft.com",
             "authority": "https://login.microsoftonline.com", "secret": ""}
    with pytest.raises(ImproperlyConfigured, match=r"^MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE: cannot read"):
        microsoft_login_app_from(**given, certificate_file=cert_file, key_file=str(tmp_path / "missing.key"))
    (tmp_path / "other").mkdir()
    _, _, other_key = certificate_files(tmp_path / "other")
    with pytest.raises(ImproperlyConfigured, match=r"^MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE: .* not the certificate"):
        microsoft_login_app_from(**given, certificate_file=cert_file, key_file=other_key)
    with pytest.raises(ImproperlyConfigured, match=r"^MICROSOFT_LOGIN_CERTIFICATE_FILE: .* no PEM certificate"):
        microsoft_login_app_from(**given, certificate_file=key_file, key_file=key_file)
    with pytest.raises(ImproperlyConfigured, match="not both"):
        microsoft_login_app_from(**{**given, "secret": "s3"}, certificate_file=cert_file, key_file=key_file)
    app = microsoft_login_app_from(**given, certificate_file=cert_file, key_file=key_file)
    assert app["secret"] == "" and app["settings"]["certificate"] == {"certificate_file": cert_file,
                                                                      "key_file": key_file}
    # Through config/settings.py, as the portal starts.
    env = {"VAR_DIR": str(tmp_path), "MICROSOFT_LOGIN_CLIENT_ID": given["client_id"],
           "MICROSOFT_LOGIN_TENANT": given["tenant"], "MICROSOFT_LOGIN_CERTIFICATE_FILE": cert_file,
           "MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE": str(tmp_path / "missing.key")}
    refused = run_manage("check", env=env)
    assert refused.returncode != 0
    assert "ImproperlyConfigured: MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE: cannot read" in refused.stderr
    assert "BEGIN" not in refused.stderr


def test_a_key_file_gone_since_the_start_gets_a_clear_page(sandbox, tmp_path):
    _, cert_file, key_file = certificate_files(tmp_path)
    with override_settings(**certificate_settings(cert_file, key_file)):
        Path(key_file).unlink()
        page = browser().post("/accounts/oidc/microsoft/login/")
    assert page.status_code == 502 and b"sign-in certificate cannot be used" in page.content
