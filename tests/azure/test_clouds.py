"""Clouds and directories: which sign-in host a cloud uses, which tenants are accepted, the admin-consent URL."""

from __future__ import annotations

import pytest

from setup_portal.azure.clouds import InvalidTenant, admin_consent_url, authority_host, normalize_tenant


@pytest.mark.parametrize("raw, expected", [
    ("72F988BF-86F1-41AF-91AB-2D7CD011DB47", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
    (" contoso.onmicrosoft.com ", "contoso.onmicrosoft.com"),
    ("Contoso.com", "contoso.com"),
])
def test_tenant_accepts_guid_or_domain(raw, expected):
    assert normalize_tenant(raw) == expected


@pytest.mark.parametrize("raw, words", [
    ("", "Enter your directory"),
    ("common", "not one directory"),
    ("organizations", "not one directory"),
    ("72f988bf-86f1-41af-91ab-2d7cd011db4", "not a complete GUID"),
    ("https://login.microsoftonline.com/contoso.com", "not a URL"),
    ("contoso", "Enter a tenant ID"),
    ("cоntoso.com", "look-alike"),
    ("<script>.com", "Enter a tenant ID"),
    ("a" * 300, "too long"),
])
def test_tenant_refuses(raw, words):
    with pytest.raises(InvalidTenant) as exc:
        normalize_tenant(raw)
    assert words in exc.value.message


def test_authority_per_cloud():
    assert authority_host("public") == "login.microsoftonline.com"
    assert authority_host("usgov") == "login.microsoftonline.us"
    assert authority_host("china") == "login.partner.microsoftonline.cn"
    with pytest.raises(ValueError):
        authority_host("mars")


def test_admin_consent_url_is_built_for_the_tenant_and_app():
    url = admin_consent_url(base="https://login.microsoftonline.com", tenant="contoso.com", client_id="abc",
                            dynamics_url="https://contoso.crm.dynamics.com",
                            redirect_uri="https://portal.example/azure/callback/", state="s1")
    assert url == ("https://login.microsoftonline.com/contoso.com/v2.0/adminconsent?client_id=abc"
                   "&scope=https%3A%2F%2Fcontoso.crm.dynamics.com%2Fuser_impersonation"
                   "&redirect_uri=https%3A%2F%2Fportal.example%2Fazure%2Fcallback%2F&state=s1")
