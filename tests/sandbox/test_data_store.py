"""Rows persist in the sandbox's SQLite file across restarts until /_sandbox/reset, and the
overview page shows recent changes and each user's remaining limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import msal
import requests

from tests.sandbox_fixtures import ROOT, TimeoutSession

from .conftest import make_changes, set_limits


def _start(sandbox_dir: Path, log: Path) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, SANDBOX_ENABLED="1", SANDBOX_DIR=str(sandbox_dir), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "run_sandbox", "--http-port", "0", "--https-port", "0",
                             "--quiet"], cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            runtime = json.loads((sandbox_dir / "runtime.json").read_text())
            if runtime["pid"] == proc.pid:
                return proc, runtime
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        assert proc.poll() is None, log.read_text()[-2000:]
        time.sleep(0.05)
    raise AssertionError(f"sandbox did not start: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(10)


def _api(runtime: dict, info: dict) -> tuple[requests.Session, str]:
    session = TimeoutSession()
    session.verify = runtime["ca_cert_path"]
    session.trust_env = False
    dynamics = f"{runtime['backchannel_base']}/dataverse/contoso"
    app = msal.ConfidentialClientApplication(info["client_id"], client_credential=info["client_secret"],
                                             authority=runtime["authority"], instance_discovery=False,
                                             http_client=session)
    token = app.acquire_token_for_client([f"{dynamics}/.default"])["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session, f"{dynamics}/api/data/v9.2/"


def test_rows_survive_a_restart_until_reset(tmp_path, info):
    proc, runtime = _start(tmp_path, tmp_path / "log")
    try:
        session, api = _api(runtime, info)
        created = session.post(api + "accounts", json={"name": "Still Here Ltd."})
        assert created.status_code == 204
        key = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    finally:
        _stop(proc)
    assert (tmp_path / "dataverse" / "contoso.sqlite3").exists()
    proc, runtime = _start(tmp_path, tmp_path / "log")
    try:
        session, api = _api(runtime, info)
        assert session.get(api + f"accounts({key})").json()["name"] == "Still Here Ltd."
        assert session.post(f"{runtime['backchannel_base']}/_sandbox/reset").status_code == 200
        assert session.get(api + f"accounts({key})").status_code == 404
        assert session.get(api + "accounts?$top=1&$count=true").json()["@odata.count"] == 300
    finally:
        _stop(proc)


def test_the_overview_shows_recent_changes_and_remaining_limits(sbx, info, app_api):
    made = make_changes(sbx, contacts={"create": 1, "update": 1})
    set_limits(sbx, requests=50)
    for _ in range(3):
        app_api.get("WhoAmI")
    page = sbx.session().get(info["browser_base"] + "/")
    assert page.status_code == 200
    assert "recent changes" in page.text and made[0]["id"] in page.text and "contacts" in page.text
    assert "# Contoso CRM Setup Portal" in page.text
    assert "47 of 50" in page.text


def test_the_change_hook_refuses_bad_plans(sbx, info):
    url = f"{info['backchannel_base']}/_sandbox/dataverse/contoso/changes"
    session = sbx.session()
    for body in ({}, {"widgets": {"create": 1}}, {"activitypointers": {"create": 1}},
                 {"accounts": {"create": 10**6}}, {"accounts": {"explode": 1}}, {"accounts": {"create": 1},
                                                                                 "owner": "nobody"}):
        assert session.post(url, json=body).status_code == 400, body
    assert session.post(f"{info['backchannel_base']}/_sandbox/dataverse/nowhere/changes",
                        json={"accounts": {"create": 1}}).status_code == 404
    listed = session.get(url).json()
    assert listed["changes"] == [] and listed["version"] > 0


def test_the_change_hook_acts_as_a_chosen_owner(sbx, info, lee_api):
    made = make_changes(sbx, accounts={"create": 1, "update": 2}, owner="lee@contoso.onmicrosoft.com", seed=5)
    for change in made:
        row = lee_api.ok("GET", f"accounts({change['id']})?$select=_ownerid_value,_modifiedby_value")
        assert row["_modifiedby_value"] == "1e5986c9-3041-4835-9150-6b0e44cbf44a"
