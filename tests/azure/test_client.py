import pytest

from setup_portal.azure.client import AzureError, authority_for


def test_authorities_follow_the_cloud():
    assert authority_for(cloud="public", tenant="contoso.onmicrosoft.com", use_sandbox=False) == \
        "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert authority_for(cloud="usgov", tenant="t", use_sandbox=False) == "https://login.microsoftonline.us/t"
    assert authority_for(cloud="china", tenant="t", use_sandbox=False) == "https://login.partner.microsoftonline.cn/t"


def test_a_portal_without_the_sandbox_refuses_sandbox_authorities(settings):
    settings.SANDBOX_ENABLED = False
    with pytest.raises(AzureError) as refused:
        authority_for(cloud="public", tenant="d0eb022d-4c6a-47ce-be10-44cf1b99e082", use_sandbox=True)
    assert refused.value.code == "sandbox_disabled"
