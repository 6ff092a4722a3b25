"""Schemathesis against the live management API: a real web server (gunicorn) on the test database,
the schema it serves, every check with Schemathesis's own expectations (a schema-valid request is
never refused with 400; a 422 only where the operation documents one), stateful links, once with an
admin's key and once with a team lead's. Bounded examples keep each run to a couple of minutes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from setup_portal.api.keys.actions import do_create_api_key
from setup_portal.instances.models import HealthCheck, Instance, InstanceReview, JobStep, ProvisioningJob
from setup_portal.teams.models import Membership, Team
from setup_portal.teams.roles import is_portal_admin, set_portal_admin
from setup_portal.wizard.actions import do_create_setup
from tests.conftest import ROOT, _make_user, private_broker_env, subprocess_env
from tests.instances.factories import make_instance

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))


def _seed(alice, bob) -> None:
    """A few of everything, so generated ids are not the only ids: links lead to real objects."""
    for n in range(6):
        inst = make_instance(alice, name=f"seeded-{n}", tags=",st,",
                             status=[Instance.Status.READY, Instance.Status.FAILED][n % 2])
        job = ProvisioningJob.objects.create(instance=inst, created_by=alice,
                                             status=ProvisioningJob.Status.FAILED if n % 2 else
                                             ProvisioningJob.Status.SUCCEEDED)
        JobStep.objects.create(job=job, key="token", position=0, status=JobStep.Status.SUCCEEDED)
        JobStep.objects.create(job=job, key="whoami", position=1,
                               status=JobStep.Status.FAILED if n % 2 else JobStep.Status.SUCCEEDED)
        HealthCheck.objects.create(instance=inst, ok=bool(n % 2), detail="seeded")
        InstanceReview.objects.create(instance=inst, reviewer=bob, decision=Instance.Review.APPROVED)
    do_create_setup(acting_user=alice)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_serving(url: str, log: Path, seconds: float = 60) -> None:
    """Until `url` answers 200; a slow answer on a busy machine is waited out, not taken as a failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(log.read_text()[-3000:])


@pytest.fixture
def live_api(sandbox, transactional_db, django_user_model, tmp_path):
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    # The limits have tests of their own; here thousands of requests (and wrong keys, on purpose) in a minute.
    env = subprocess_env(PORTAL_BASE_URL=base_url, API_KEY_RATE_LIMIT="off", AUTH_FAILURE_LIMIT="off",
                         CRM_RATE_LIMIT="off", **private_broker_env(tmp_path / "broker"))
    log = tmp_path / "web.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "2",
         # Generated query strings can be long; Django, not gunicorn's 4 KB default, answers them (problem JSON).
         "--limit-request-line", "0"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_serving(f"{base_url}/healthz", log)
        yield base_url, log
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(10)


# Schemathesis's own lists: for schema-valid requests no 400 (a request the schema allows is not malformed);
# for any request no 5xx.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
NOT_A_SERVER_ERROR = ["2xx", "3xx", "4xx"]


def _config(base_url: str, key: str, path: Path) -> Path:
    """Schemathesis's settings, read off the schema: an operation that documents a 422 (a rule of the
    pages the schema cannot state, such as a client secret Azure AD refuses) may answer a schema-valid
    request with it; one that documents a 503 (Azure AD out of reach: no test reaches Microsoft, so
    values that pass every stage's checks for a real tenant end there) may answer it. No other
    allowance, and every check stays on."""
    schema = requests.get(f"{base_url}/api/v1/schema/?format=json", headers={"Authorization": f"Bearer {key}"},
                          timeout=30).json()
    lines = []
    for route, item in schema["paths"].items():
        for method, op in item.items():
            documented = op.get("responses", {})
            if "422" not in documented and "503" not in documented:
                continue
            lines += ["[[operations]]", f'include-name = "{method.upper()} {route}"']
            if "422" in documented:
                lines.append(f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*ACCEPTED, '422'])}")
            if "503" in documented:
                statuses = json.dumps([*NOT_A_SERVER_ERROR, "503"])
                lines.append(f"checks.not_a_server_error.expected-statuses = {statuses}")
            lines.append("")
    path.write_text("\n".join(lines))
    return path


def _schemathesis(base_url: str, key: str, report: Path) -> subprocess.CompletedProcess:
    config = _config(base_url, key, report.parent / "schemathesis.toml")
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
               "--no-color", "run", f"{base_url}/api/v1/schema/?format=json",
               "-H", f"Authorization: Bearer {key}", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
               "--phases", "examples,coverage,fuzzing,stateful", "--workers", "1", "--seed", "14",
               "--request-timeout", "30", "--report", "junit", "--report-dir", str(report)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
# The run's own budget (_schemathesis's 600 s) and the server's start, not pytest.ini's 300 s: on a busy
# machine the admin's run (it makes teams and users) went past 300 s and was killed with nothing found.
@pytest.mark.timeout(720)
@pytest.mark.parametrize("persona", ["admin", "teamlead"])
def test_schemathesis_finds_nothing(persona, live_api, django_user_model, tmp_path):
    base_url, log = live_api
    alice = _make_user(django_user_model, "alice", "admin")
    set_portal_admin(alice)  # as the teams migration left every admin: teams and users are hers to manage
    bob = _make_user(django_user_model, "bob", "teamlead")
    _seed(alice, bob)
    user = alice if persona == "admin" else bob
    key = do_create_api_key(user, "schemathesis", acting_user=user).key
    result = _schemathesis(base_url, key, tmp_path / "report")
    print(result.stdout[-6000:])  # the run's summary, shown with -rP
    print("made:", Team.objects.count() - 1, "teams,", django_user_model.objects.count() - 2, "users,",
          Membership.objects.count() - 2, "memberships")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:] + log.read_text()[-3000:]
    # The run made teams and users and granted and revoked portal administration; nobody took hers away.
    assert is_portal_admin(django_user_model.objects.get(pk=alice.pk))
