"""The Dynamics URL normaliser is the SSRF guard: many shapes in, only Dynamics (or the sandbox) out."""

from __future__ import annotations

import pytest

from setup_portal.dataverse.dynamics_url import InvalidDynamicsUrl, normalize_dynamics_url

SANDBOX = {"https://127.0.0.1:8443"}


def norm(raw: str, *, sandbox: bool = False):
    return normalize_dynamics_url(raw, sandbox_allowed=sandbox, sandbox_origins=SANDBOX)


@pytest.mark.parametrize("raw, url, region, cloud", [
    ("https://contoso.crm.dynamics.com", "https://contoso.crm.dynamics.com", "North America", "public"),
    ("contoso.crm.dynamics.com", "https://contoso.crm.dynamics.com", "North America", "public"),
    ("  HTTPS://Contoso.CRM4.Dynamics.COM/  ", "https://contoso.crm4.dynamics.com",
     "Europe, Middle East and Africa", "public"),
    ("https://contoso.crm11.dynamics.com/api/data/v9.2/accounts?$top=1", "https://contoso.crm11.dynamics.com",
     "United Kingdom", "public"),
    ("https://contoso.crm.dynamics.com/main.aspx?appid=abc&pagetype=entitylist#x", "https://contoso.crm.dynamics.com",
     "North America", "public"),
    ("https://org-1.crm5.dynamics.com/", "https://org-1.crm5.dynamics.com", "Asia Pacific", "public"),
    ("https://contoso.crm9.dynamics.com", "https://contoso.crm9.dynamics.com",
     "US Government Community Cloud (GCC)", "public"),
    ("https://contoso.crm21.dynamics.com", "https://contoso.crm21.dynamics.com", "Region crm21", "public"),
    ("https://contoso.crm.microsoftdynamics.us", "https://contoso.crm.microsoftdynamics.us",
     "US Government (GCC High)", "usgov"),
    ("https://contoso.crm.dynamics.cn/", "https://contoso.crm.dynamics.cn", "China", "china"),
    ("https://contoso.crm.dynamics.com./", "https://contoso.crm.dynamics.com", "North America", "public"),
    ("https://contoso.crm.dynamics.com/apps/sales", "https://contoso.crm.dynamics.com", "North America", "public"),
])
def test_it_accepts_and_normalises_dynamics_hosts(raw, url, region, cloud):
    parsed = norm(raw)
    assert (parsed.url, parsed.region, parsed.cloud) == (url, region, cloud)
    assert parsed.host == url.removeprefix("https://")


@pytest.mark.parametrize("raw, words", [
    ("", "Enter your Dynamics CRM URL"),
    ("   ", "Enter your Dynamics CRM URL"),
    ("http://contoso.crm.dynamics.com", "not http://"),
    ("ftp://contoso.crm.dynamics.com", "Only https://"),
    ("javascript:alert(1)", "Only https://"),
    ("data:text/html,<script>", "spaces, quotes or brackets"),
    ("https://contoso.crm.dynamics.com/<script>alert(1)</script>", "spaces, quotes or brackets"),
    ('https://contoso.crm.dynamics.com"onmouseover="x', "spaces, quotes or brackets"),
    ("https://example.com", "not a Dynamics CRM address"),
    ("https://contoso.crm.dynamics.com.evil.com", "not a Dynamics CRM address"),
    ("https://evil.com/contoso.crm.dynamics.com", "not a Dynamics CRM address"),
    ("https://evil.com?x=.crm.dynamics.com", "not a Dynamics CRM address"),
    ("https://evil.com#.crm.dynamics.com", "not a Dynamics CRM address"),
    ("https://dynamics.com", "Microsoft address but not a Dynamics CRM environment"),
    ("https://www.dynamics.com", "Microsoft address but not a Dynamics CRM environment"),
    ("https://a.b.crm.dynamics.com", "Microsoft address but not a Dynamics CRM environment"),
    ("https://contoso.crm0.dynamics.com", "Microsoft address but not a Dynamics CRM environment"),
    ("https://contoso.crm100.dynamics.com", "Microsoft address but not a Dynamics CRM environment"),
    ("https://-contoso.crm.dynamics.com", "Microsoft address but not a Dynamics CRM environment"),
    ("https://127.0.0.1", "IP addresses are not accepted"),
    ("https://10.0.0.5/api/data", "IP addresses are not accepted"),
    ("https://[::1]/", "IP addresses are not accepted"),
    ("https://169.254.169.254/latest/meta-data", "IP addresses are not accepted"),
    ("https://2130706433", "IP addresses are not accepted"),
    ("https://0x7f000001", "IP addresses are not accepted"),
    ("https://127.1", "IP addresses are not accepted"),
    ("https://contoso.crm.dynamics.com:8443", "Remove the port"),
    ("https://contoso.crm.dynamics.com:443", "Remove the port"),
    ("contoso.crm.dynamics.com:444", "Remove the port"),
    ("https://contoso.crm.dynamics.com:", "Remove the port"),
    ("https://contoso.crm.dynamics.com:99999", "not a valid address"),
    ("https://user:pass@contoso.crm.dynamics.com", "Remove the user name"),
    ("https://contoso.crm.dynamics.com@evil.com", "Remove the user name"),
    ("https://evil.com\\@contoso.crm.dynamics.com", "spaces, quotes or brackets"),
    ("https://cоntoso.crm.dynamics.com", "look like Latin letters"),  # Cyrillic о
    ("https://contoso.crm.dynamics.com\u3002evil.com", "look like Latin letters"),  # ideographic full stop
    ("https://contoso\uff0ecrm.dynamics.com", "look like Latin letters"),  # fullwidth dot
    ("https://contoso.crm.dynamics.com\u200b", "look like Latin letters"),  # zero-width space
    ("https://xn--cntoso-3ve.crm.dynamics.com", "internationalised"),
    ("https://contoso%2ecrm.dynamics.com", "not a Dynamics CRM"),
    ("https://contoso.crm.dynamics.com/../../etc/passwd", "Remove the path"),
    ("https://contoso.crm.dynamics.com/foo", "Remove the path"),
    ("https://contoso.crm.dynamics.com\r\nHost: evil", "spaces, quotes or brackets"),
    ("https://" + "a" * 64 + ".crm.dynamics.com", "not a Dynamics CRM"),
    ("https://contoso.crm.dynamics.com/" + "a" * 3000, "too long"),
    ("https://", "no host name"),
    ("https:///crm.dynamics.com", "no host name"),
])
def test_it_refuses_with_a_plain_message(raw, words):
    with pytest.raises(InvalidDynamicsUrl) as exc:
        norm(raw)
    assert words in exc.value.message


def test_it_accepts_the_sandbox_only_when_allowed():
    parsed = norm("https://127.0.0.1:8443/dataverse/contoso", sandbox=True)
    assert parsed.url == "https://127.0.0.1:8443/dataverse/contoso"
    assert parsed.region == "Sandbox"
    assert parsed.host == "127.0.0.1:8443"
    with pytest.raises(InvalidDynamicsUrl, match="IP addresses"):
        norm("https://127.0.0.1:8443/dataverse/contoso", sandbox=False)


@pytest.mark.parametrize("raw", [
    "https://127.0.0.1:8443/dataverse/contoso/",
    "https://127.0.0.1:8443/dataverse/Contoso/api/data/v9.2/WhoAmI",
])
def test_it_normalises_sandbox_urls(raw):
    assert norm(raw, sandbox=True).url == "https://127.0.0.1:8443/dataverse/contoso"


@pytest.mark.parametrize("raw, words", [
    ("https://127.0.0.1:8444/dataverse/contoso", "IP addresses"),  # another port: not the sandbox
    ("http://127.0.0.1:8443/dataverse/contoso", "not http://"),
    ("https://127.0.0.1:8443/", "must be the sandbox's Dataverse URL"),
    ("https://127.0.0.1:8443/admin", "must be the sandbox's Dataverse URL"),
    ("https://127.0.0.1:8443/dataverse/contoso/../../oauth2", "must be the sandbox's Dataverse URL"),
    ("https://127.0.0.1:8443/dataverse/", "must be the sandbox's Dataverse URL"),
    ("https://u@127.0.0.1:8443/dataverse/contoso", "Remove the user name"),
    ("https://localhost:8443/dataverse/contoso", "Remove the port"),
    ("https://localhost/dataverse/contoso", "not a Dynamics CRM address"),
])
def test_it_refuses_other_loopback_shapes_even_with_the_sandbox_on(raw, words):
    with pytest.raises(InvalidDynamicsUrl) as exc:
        norm(raw, sandbox=True)
    assert words in exc.value.message


def test_it_reads_the_sandbox_origin_from_settings(settings):
    settings.SANDBOX_HOST = "127.0.0.1"
    settings.SANDBOX_HTTPS_PORT = 18443
    parsed = normalize_dynamics_url("https://127.0.0.1:18443/dataverse/x", sandbox_allowed=True)
    assert parsed.url == "https://127.0.0.1:18443/dataverse/x"
