"""The outbound session: timeouts, the sandbox's CA, and no call past loopback while testing."""

from __future__ import annotations

import pytest
import requests

from setup_portal.azure.client import AzureError, verify_client_secret
from setup_portal.outbound import OutboundSession, SandboxDisabled, outbound_session, retry_after_seconds


def test_the_test_settings_keep_every_call_on_loopback(settings):
    assert settings.OUTBOUND_LOOPBACK_ONLY
    with pytest.raises(requests.ConnectionError, match="OUTBOUND_LOOPBACK_ONLY"):
        OutboundSession().get("https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration")


def test_a_secret_check_against_microsoft_fails_as_unreachable_in_tests():
    with pytest.raises(AzureError) as failure:
        verify_client_secret(cloud="public", tenant="72f988bf-86f1-41af-91ab-2d7cd011db47", use_sandbox=False,
                             client_id="1b2c3d4e-0000-4a5b-8c9d-112233445566", client_secret="x" * 40,
                             dynamics_url="https://contoso.crm.dynamics.com")
    assert failure.value.code == "connection_error" and failure.value.retryable


def test_the_sandbox_session_trusts_its_ca_and_times_out(sandbox, settings):
    session = outbound_session(use_sandbox=True)
    assert session.verify == sandbox.info["ca_cert_path"] and session.trust_env is False
    response = session.get(f"{sandbox.info['authority']}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200 and session.last_response is response


def test_a_portal_without_the_sandbox_refuses_sandbox_sessions(settings):
    settings.SANDBOX_ENABLED = False
    with pytest.raises(SandboxDisabled):
        outbound_session(use_sandbox=True)


@pytest.mark.parametrize("header, seconds", [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), (None, None)])
def test_retry_after_is_read_in_seconds(header, seconds):
    response = requests.Response()
    if header is not None:
        response.headers["Retry-After"] = header
    assert retry_after_seconds(response) == seconds
