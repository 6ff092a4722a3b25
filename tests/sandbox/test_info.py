"""sandbox_info, the discovery document, the JWKS and the local certificates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from tests.sandbox_fixtures import ROOT

INFO_KEYS = {
    "tenant_id", "tenant_domain", "tenant_name", "authority", "browser_base", "backchannel_base", "client_id",
    "client_secret", "client_secret_id", "client_secret_expires", "expired_client_secret", "s2s_client_id",
    "s2s_client_secret", "no_app_user_client_id", "no_app_user_client_secret", "public_client_id", "sign_in_client_id",
    "sign_in_client_secret", "username",
    "password", "mfa_username", "mfa_password", "dynamics_url", "region", "organization_name", "ca_cert_path",
    "redirect_uri_hint", "endpoints",
}


def _info_now() -> dict:
    from setup_portal.sandbox.info import sandbox_info
    return sandbox_info()


def test_sandbox_info_json_command(sbx):
    out = subprocess.run([sys.executable, "manage.py", "sandbox_info", "--json"], cwd=ROOT, env=dict(os.environ),
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    assert set(data) == INFO_KEYS
    # Computed now, not the session's snapshot: secret expiries are relative to today, and a
    # run that crosses midnight UTC moved client_secret_expires by a day (CI, 00:03).
    assert data == _info_now()
    assert {k: v for k, v in data.items() if k != "client_secret_expires"} == \
        {k: v for k, v in sbx.info.items() if k != "client_secret_expires"}
    assert set(data["endpoints"]) == {"openid_configuration", "authorize", "token", "jwks", "adminconsent", "logout",
                                      "webapi"}
    assert data["endpoints"]["authorize"].startswith(data["browser_base"])
    assert data["dynamics_url"] == f"{data['backchannel_base']}/dataverse/contoso"


def test_sandbox_info_readable_command(sbx):
    out = subprocess.run([sys.executable, "manage.py", "sandbox_info"], cwd=ROOT, env=dict(os.environ),
                         capture_output=True, text=True, check=True).stdout
    assert "running" in out and sbx.info["tenant_id"] in out


def test_the_discovery_document(sbx, info):
    doc = sbx.session().get(info["endpoints"]["openid_configuration"]).json()
    assert doc["issuer"] == f"{info['backchannel_base']}/{info['tenant_id']}/v2.0"
    assert doc["authorization_endpoint"] == info["endpoints"]["authorize"]
    assert doc["token_endpoint"] == info["endpoints"]["token"]
    assert doc["jwks_uri"] == info["endpoints"]["jwks"]
    assert doc["end_session_endpoint"] == info["endpoints"]["logout"]
    for field in ("response_types_supported", "scopes_supported", "claims_supported", "tenant_region_scope",
                  "subject_types_supported", "id_token_signing_alg_values_supported"):
        assert doc[field]


def test_the_discovery_document_for_common(sbx, info):
    doc = sbx.session().get(f"{info['backchannel_base']}/common/v2.0/.well-known/openid-configuration").json()
    assert doc["issuer"] == f"{info['backchannel_base']}/{{tenantid}}/v2.0"
    assert doc["token_endpoint"].endswith("/common/oauth2/v2.0/token")


def test_the_jwks_has_a_stable_kid(sbx, info):
    keys = sbx.session().get(info["endpoints"]["jwks"]).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kid"] and keys[0]["kty"] == "RSA" and keys[0]["use"] == "sig"
    assert "d" not in keys[0], "never publish the private key"


def test_the_server_certificate_covers_loopback(sbx, info):
    directory = Path(info["ca_cert_path"]).parent
    cert = x509.load_pem_x509_certificate((directory / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert (directory / "ca.pem").exists() and (directory / "server-key.pem").stat().st_mode & 0o077 == 0


def test_the_home_page(sbx, info):
    page = sbx.session().get(info["browser_base"] + "/")
    assert page.status_code == 200
    assert info["tenant_id"] in page.text and "Sandbox tenant — not Microsoft" in page.text
    assert info["client_secret"] not in page.text
