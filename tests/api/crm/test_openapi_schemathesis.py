"""Schemathesis against a live instance API with its instance token, driven by the instance's own
openapi.json: a real web server (gunicorn) on the test database, the sandbox's Dataverse behind it.

400 is an accepted answer to schema-valid requests here: the where, fields, orderBy and nextPage
parameters are languages of their own that a JSON schema cannot state, and Dataverse refuses values
no schema knows (a lookup to a record that does not exist, an id already taken). Every check stays
on otherwise (no 5xx, documented statuses, content types, answer schemas and Allow headers).

Every operation of the document: each table of the sandbox's environment (standard, custom, read-only
system tables and the plug-in registration tables the portal's real-time mode writes), objects,
batch and the document itself — about 70 operations, 2-3 minutes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.api.conftest import issue_token
from tests.api.rest.test_schemathesis import live_api  # noqa: F401 - the fixture, reused
from tests.conftest import ROOT, _make_user
from tests.instances.factories import sandbox_s2s_instance

ACCEPTED = ["2xx", "400", "401", "403", "404", "409", "412", "429", "5xx"]
MAX_EXAMPLES = 4


def _config(base_url: str, token: str, path):
    """An operation that documents a 422 (an Idempotency-Key sent again with another body) may answer it."""
    schema = requests.get(f"{base_url}/api/v1/crm/openapi.json", headers={"Authorization": f"Bearer {token}"},
                          timeout=30).json()
    lines = ["[checks.positive_data_acceptance]", f"expected-statuses = {json.dumps(ACCEPTED)}", ""]
    for route, item in schema["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "422" in op.get("responses", {}):
                lines += ["[[operations]]", f'include-name = "{method.upper()} {route}"',
                          f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*ACCEPTED, '422'])}", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.mark.slow
@pytest.mark.timeout(960)  # the run's own 900 s budget and the server's start, not pytest.ini's 300 s
def test_schemathesis_finds_nothing_in_an_instance_api(live_api, sandbox, django_user_model, tmp_path):  # noqa: F811
    base_url, log = live_api
    alice = _make_user(django_user_model, "alice", "admin")
    instance = sandbox_s2s_instance(alice, sandbox.info, filter_nulls=False)
    token = issue_token(instance)
    config = _config(base_url, token, tmp_path / "schemathesis.toml")
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run",
               f"{base_url}/api/v1/crm/openapi.json", "-H", f"Authorization: Bearer {token}",
               "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
               "--phases", "examples,coverage,fuzzing", "--workers", "1", "--seed", "23",
               "--request-timeout", "30", "--report", "junit", "--report-dir", str(tmp_path / "report")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:] + log.read_text()[-3000:]
