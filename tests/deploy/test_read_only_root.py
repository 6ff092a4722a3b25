"""The manifests' commands run on a read-only root: the migration Job, web, worker and beat from the
rendered staging overlay, with its ConfigMap's settings and stand-ins for the Secret, in a mount
namespace where the code, the virtualenv and VAR_DIR (the image's /app/var, static files collected)
are read-only. Only the emptyDir stand-ins are writable: /tmp's and the metrics folder.

Stand-ins: SQLite and the file-system broker in the writable folder for the external PostgreSQL and
Redis; 127.0.0.1 and free ports for the pod's 0.0.0.0:8000 and 9100."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from tests.conftest import ROOT
from tests.deploy.test_k8s import render
from tests.test_ops import _free_port

from ..observability.scraping import value

VENV_BIN = Path(sys.executable).parent


def _dockerfile_env() -> dict[str, str]:
    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("ENV "))
    return dict(item.split("=", 1) for item in shlex.split(line[4:]))


def _read_only(command: list[str], read_only: list[Path]) -> list[str]:
    """`command` in a private mount namespace where the `read_only` folders cannot be written."""
    mounts = " && ".join(f"mount --bind {shlex.quote(str(p))} {shlex.quote(str(p))} && "
                         f"mount -o remount,ro,bind {shlex.quote(str(p))}" for p in read_only)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "sh", *command]


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    docs = render("staging")
    pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
            for d in docs if d["kind"] in ("Deployment", "Job")}
    pods["settings"] = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    return pods


@pytest.fixture
def pod_env(tmp_path, manifests) -> dict[str, str]:
    var = tmp_path / "app-var"
    writable = tmp_path / "emptydir-tmp"
    metrics = tmp_path / "emptydir-prometheus"
    for folder in (var, writable, metrics):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_TEST", "TEST_DB"))}
    env.update(_dockerfile_env())
    env.update(manifests["settings"])
    env.update(  # the Secret's keys
        SECRET_KEY="k8s-read-only-root-test-secret-key-0123456789-abcdefghijklmnop",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(), ADMIN_EMAIL="ops@example.com",
        DATABASE_URL=f"sqlite:///{writable / 'portal.sqlite3'}", CELERY_BROKER_URL="filesystem://",
        CELERY_BROKER_DIR=str(writable / "broker"), CACHE_URL="db://", PASSWORD_RESET_ENABLED="0")
    env.update(VAR_DIR=str(var), PROMETHEUS_MULTIPROC_DIR=str(metrics), TMPDIR=str(writable),
               PATH=f"{VENV_BIN}:{env['PATH']}", METRICS_PORT=str(_free_port()))
    # The image collects the static files at build time.
    built = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    env["_READ_ONLY"] = os.pathsep.join([str(ROOT), str(var)])
    env["_WRITABLE"] = str(writable)
    return env


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    read_only = [Path(p) for p in env["_READ_ONLY"].split(os.pathsep)]
    return subprocess.Popen(_read_only(command, read_only), cwd=ROOT, env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait_for(predicate, what: str, log: Path, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
def test_job_web_worker_and_beat_run_on_a_read_only_root(manifests, pod_env, tmp_path):
    probe = subprocess.run(_read_only(["touch", str(ROOT / "written")], [ROOT]), capture_output=True, text=True)
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr, probe.stderr  # the stand-in works

    job = subprocess.run(_read_only(manifests["portal-migrate"]["command"], [Path(p) for p in
                                    pod_env["_READ_ONLY"].split(os.pathsep)]),
                         cwd=ROOT, env=pod_env, capture_output=True, text=True, timeout=300)
    assert job.returncode == 0, job.stderr[-3000:]

    port, writable = _free_port(), pod_env["_WRITABLE"]
    web_command = [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in manifests["portal-web"]["command"]]
    beat_command = [part.replace("/tmp/", f"{writable}/") for part in manifests["portal-beat"]["command"]]
    worker_metrics = _free_port()
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "beat")}
    procs = [_start(web_command, pod_env, logs["web"]),
             _start(manifests["portal-worker"]["command"], {**pod_env, "METRICS_PORT": str(worker_metrics)},
                    logs["worker"]),
             _start(beat_command, pod_env, logs["beat"])]
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: requests.get(f"{base}/readyz", timeout=10).status_code == 200, "/readyz", logs["web"])
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
        page = requests.get(f"{base}/accounts/login/", timeout=30, allow_redirects=False,
                            headers={"Host": manifests["settings"]["ALLOWED_HOSTS"], "X-Forwarded-Proto": "https"})
        assert page.status_code == 200 and "Sign in" in page.text
        static = re.search(r'href="(/static/[^"]+\.css)"', page.text).group(1)
        assert requests.get(f"{base}{static}", timeout=10, headers={"Host": manifests["settings"]["ALLOWED_HOSTS"],
                                                                    "X-Forwarded-Proto": "https"}).status_code == 200
        scrape = _wait_for(lambda: requests.get(f"http://127.0.0.1:{pod_env['METRICS_PORT']}/", timeout=10).text,
                           "the web's metrics port", logs["web"])
        assert value(scrape, "portal_http_requests_total", route="account_login") >= 1
        assert "portal_instances" in scrape
        _wait_for(lambda: "ready." in logs["worker"].read_text(errors="replace"), "the worker", logs["worker"])
        assert requests.get(f"http://127.0.0.1:{worker_metrics}/", timeout=10).status_code == 200
        _wait_for(lambda: list(Path(writable).glob("celerybeat-schedule*")), "beat's schedule", logs["beat"])
        assert all(proc.poll() is None for proc in procs), {name: log.read_text()[-2000:] for name, log in logs.items()}
    finally:
        for proc in procs:
            _stop(proc)
    for name, log in logs.items():
        text = log.read_text(errors="replace")
        assert "Read-only file system" not in text and "Permission denied" not in text, (name, text[-3000:])
    # LOG_FORMAT=json from the ConfigMap: the worker's lines are JSON objects.
    ready = next(line for line in logs["worker"].read_text().splitlines() if "ready." in line)
    assert json.loads(ready)["level"] == "INFO"
