"""Fault injection: errors, throttling, latency and connection resets, per endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import msal
import pytest
import requests

from tests.sandbox_fixtures import ROOT

from .conftest import REDIRECT_URI


def _token_post(sbx):
    info = sbx.info
    return sbx.session().post(info["endpoints"]["token"], data={
        "grant_type": "client_credentials", "client_id": info["client_id"], "client_secret": info["client_secret"],
        "scope": f"{info['dynamics_url']}/.default"})


def _whoami(sbx, path: str = "WhoAmI"):
    token = _token_post(sbx).json()["access_token"]
    return sbx.session().get(sbx.info["endpoints"]["webapi"] + path, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("status", [500, 503])
def test_token_server_errors(sbx, status):
    sbx.faults(endpoint="token", status=status, times=1)
    failed = _token_post(sbx)
    assert failed.status_code == status
    assert failed.json()["error_codes"] == [90033]
    assert _token_post(sbx).status_code == 200, "times=1 affects one request only"


def test_token_throttling_with_retry_after(sbx):
    sbx.faults(endpoint="token", status=429, retry_after=7, times=1)
    resp = _token_post(sbx)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "7"


def test_msal_sees_a_token_fault(sbx):
    # msal raises on a 5xx from the token endpoint instead of returning an error dict.
    sbx.faults(endpoint="token", status=503, times=1)
    with pytest.raises(msal.exceptions.MsalServiceError, match="503"):
        sbx.confidential_client().acquire_token_for_client([f"{sbx.info['dynamics_url']}/.default"])
    fresh = sbx.confidential_client().acquire_token_for_client([f"{sbx.info['dynamics_url']}/.default"])
    assert "access_token" in fresh


def test_webapi_throttling_uses_dataverse_shape(sbx):
    sbx.faults(endpoint="webapi", status=429, retry_after=3)
    resp = _whoami(sbx, "accounts?$top=1")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "3"
    assert resp.json()["error"]["code"] == "0x80072322"


def test_a_whoami_fault_spares_other_webapi_calls(sbx):
    sbx.faults(endpoint="whoami", status=500)
    assert _whoami(sbx).status_code == 500
    assert _whoami(sbx, "accounts?$top=1").status_code == 200


def test_connection_reset(sbx):
    sbx.faults(endpoint="token", reset_connection=True, times=1)
    with pytest.raises(requests.ConnectionError):
        _token_post(sbx)
    assert _token_post(sbx).status_code == 200


def test_latency(sbx):
    sbx.faults(endpoint="whoami", latency_ms=400, times=1)
    started = time.monotonic()
    resp = _whoami(sbx)
    # Not a timing assertion on the sandbox's speed: only that the injected delay happened.
    assert time.monotonic() - started >= 0.4
    assert resp.status_code == 200


def test_latency_trips_a_client_timeout(sbx):
    sbx.faults(endpoint="token", latency_ms=1500, times=1)
    with pytest.raises(requests.Timeout):
        sbx.session(timeout=0.3).post(sbx.info["endpoints"]["token"], data={})


def test_authorize_fault(sbx, user_scope):
    sbx.faults(endpoint="authorize", status=503, times=1)
    flow = sbx.confidential_client().initiate_auth_code_flow(user_scope, redirect_uri=REDIRECT_URI)
    assert sbx.session().get(flow["auth_uri"]).status_code == 503


def test_wildcard_faults_spare_the_hooks(sbx):
    sbx.faults(endpoint="*", status=500)
    assert _token_post(sbx).status_code == 500
    assert sbx.admin("GET", "faults")["faults"][0]["endpoint"] == "*"
    sbx.clear_faults()
    assert _token_post(sbx).status_code == 200


def test_reset_clears_faults(sbx):
    sbx.faults(endpoint="token", status=500)
    sbx.reset()
    assert sbx.admin("GET", "faults") == {"faults": []}


def test_a_bad_fault_spec_is_a_400(sbx):
    resp = sbx.session().post(f"{sbx.info['backchannel_base']}/_sandbox/faults", json={"endpoint": "nowhere"})
    assert resp.status_code == 400
    assert "endpoint must be one of" in resp.json()["error"]


def test_faults_from_the_environment(tmp_path):
    """SANDBOX_FAULTS is read at start; a second sandbox in its own directory proves it."""
    env = dict(os.environ, SANDBOX_DIR=str(tmp_path), SANDBOX_ENABLED="1",
               SANDBOX_FAULTS=json.dumps([{"endpoint": "discovery", "status": 503}]))
    proc = subprocess.Popen([sys.executable, "manage.py", "run_sandbox", "--http-port", "0", "--https-port", "0",
                             "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "runtime.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.05)
        runtime = json.loads((tmp_path / "runtime.json").read_text())
        session = requests.Session()
        session.trust_env = False
        session.verify = str(tmp_path / "ca.pem")
        resp = session.get(f"{runtime['authority']}/v2.0/.well-known/openid-configuration", timeout=10)
        assert resp.status_code == 503
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)
    assert not (tmp_path / "runtime.json").exists(), "a clean stop removes runtime.json"
