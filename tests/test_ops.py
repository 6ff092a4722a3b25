"""Running the portal: the container health check under production settings, rate limits shared
by processes, no Django admin site, `make run`'s ports, and which app may import which."""

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
import yaml
from django.test import Client

from tests.accounts.test_foundation import PRODUCTION_ENV, run_manage
from tests.conftest import PASSWORD, ROOT, subprocess_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited early"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


def _production_env(tmp_path: Path) -> dict[str, str]:
    """The production settings (DEBUG=0, host pinned to portal.example.com) on a private SQLite
    database and file-system broker, as a full environment for child processes."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "EMAIL_BACKEND"}}
    env.update(PRODUCTION_ENV, ALLOWED_HOSTS="portal.example.com", VAR_DIR=str(tmp_path),
               DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}", CELERY_BROKER_URL="filesystem://",
               CELERY_BROKER_DIR=str(tmp_path / "broker"))
    return env


def test_the_compose_health_check_passes_against_production_gunicorn(tmp_path):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    check = compose["services"]["web"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "python"]
    env = _production_env(tmp_path)
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                            f"127.0.0.1:{port}", "--workers", "1"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_port(port, web)
        # The production settings are really on: plain HTTP is sent to https, an unknown host refused.
        page = requests.get(f"http://127.0.0.1:{port}/accounts/login/", headers={"Host": "portal.example.com"},
                            allow_redirects=False, timeout=30)
        assert page.status_code == 301 and page.headers["Location"].startswith("https://portal.example.com/")
        assert requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=10).status_code == 400
        # The exact command Docker runs inside the web container, with python from this venv.
        result = subprocess.run([sys.executable, *check[2:]], env={**env, "PORT": str(port)},
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.json() == {**ready.json(), "status": "ok", "database": "ok", "broker": "ok"}
        assert ready.headers["Cache-Control"].startswith("max-age=0")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(10)


def test_readyz_is_503_with_the_database_down_while_healthz_stays_live(tmp_path):
    """Nothing listens on port 1: the probes answer all the same, without a database."""
    script = ("from django.test import Client\n"
              "for path in ('/readyz', '/healthz'):\n"
              "    r = Client().get(path)\n"
              "    print(path, r.status_code, r.json().get('database', '-'))\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(VAR_DIR=str(tmp_path), DATABASE_URL="postgres://portal@127.0.0.1:1/portal",
               CELERY_BROKER_URL="filesystem://", CELERY_BROKER_DIR=str(tmp_path / "broker"), CACHE_URL="db://")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-2:] == ["/readyz 503 unreachable", "/healthz 200 -"], result.stderr[-2000:]


@pytest.mark.parametrize("path", ["/healthz/", "/healthz.json", "/accounts/healthz", "/readyz/"])
def test_only_the_health_check_path_skips_the_host_check(path, client, settings, db):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get(path, HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_failed_sign_ins_count_across_processes(alice, transactional_db):
    """Each gunicorn worker is a process: the login limit must live in the shared cache."""
    client = Client()
    for i in range(6):
        client.post("/accounts/login/", {"login": "alice", "password": f"wrong-{i}"})
    script = ("from django.test import Client\n"
              f"r = Client().post('/accounts/login/', {{'login': 'alice', 'password': '{PASSWORD}'}})\n"
              "print('limited' if b'Too many failed login attempts' in r.content else 'signed-in')\n")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=subprocess_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1:] == ["limited"], result.stderr[-2000:]


def test_the_cache_is_redis_when_cache_url_says_so():
    script = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    redis = run_manage("shell", "-c", script, env={"CACHE_URL": "redis://127.0.0.1:6379/7"})
    assert redis.stdout.splitlines()[-1] == "django.core.cache.backends.redis.RedisCache"
    default = run_manage("shell", "-c", script, env={"CACHE_URL": "db://"})
    assert default.stdout.splitlines()[-1] == "django.core.cache.backends.db.DatabaseCache"


def test_the_django_admin_site_is_gone(client, alice):
    """Its sign-in skipped allauth's rate limit and two-factor check; nothing in the portal used it."""
    assert client.get("/django-admin/login/").status_code == 404
    client.force_login(alice)
    assert client.get("/django-admin/").status_code == 404


def _run_script(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _run_env(tmp_path: Path, **ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "PORTAL_BASE_URL"}}
    env.update(VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
               CELERY_BROKER_URL="filesystem://", CELERY_BROKER_DIR=str(tmp_path / "broker"), CACHE_URL="db://",
               PYTHONUNBUFFERED="1", **{name: str(port) for name, port in ports.items()})
    return env


@pytest.mark.parametrize("variable", ["PORTAL_PORT", "SANDBOX_HTTP_PORT", "SANDBOX_HTTPS_PORT"])
def test_make_run_names_the_variable_of_a_busy_port_before_starting_anything(variable, tmp_path):
    ports = {"PORTAL_PORT": _free_port(), "SANDBOX_HTTP_PORT": _free_port(), "SANDBOX_HTTPS_PORT": _free_port()}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports[variable] = busy.getsockname()[1]
        proc = _run_script(_run_env(tmp_path, **ports))
        try:
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    assert f"Port {ports[variable]} on 127.0.0.1 is already in use" in output
    assert f"{variable}=<port> make run" in output
    assert not (tmp_path / "log").exists()


@pytest.mark.slow
def test_make_run_prints_the_ports_it_really_uses(tmp_path):
    ports = {"PORTAL_PORT": _free_port(), "SANDBOX_HTTP_PORT": _free_port(), "SANDBOX_HTTPS_PORT": _free_port()}
    env = _run_env(tmp_path, **ports)
    assert subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                          timeout=120).returncode == 0
    proc = _run_script(env)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("Press Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
        output = "".join(lines)
        assert f"Portal:   http://127.0.0.1:{ports['PORTAL_PORT']}/" in output, output
        assert (f"Sandbox:  http://127.0.0.1:{ports['SANDBOX_HTTP_PORT']}/ (sign-in pages), "
                f"https://127.0.0.1:{ports['SANDBOX_HTTPS_PORT']}/ (back channel)") in output
        assert "admin@example.com is a placeholder" in output
        sandbox = json.loads(subprocess.run([sys.executable, "manage.py", "sandbox_info", "--json"], cwd=ROOT,
                                            env=env, capture_output=True, text=True, timeout=60).stdout)
        assert f"{sandbox['username']}  Password: {sandbox['password']}" in output
        assert requests.get(f"http://127.0.0.1:{ports['PORTAL_PORT']}/healthz", timeout=10).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert "Stopped web, worker, beat and sandbox." in output


def test_no_way_of_starting_the_portal_logs_the_basic_auth_user(tmp_path, db):
    """An API key sent as the HTTP Basic user (`curl -u dcp_…:`) stays out of gunicorn's access log."""
    for source in ("Dockerfile", "docker-compose.yml", "deploy/k8s/base/web-deployment.yaml", "scripts/run.py"):
        text = (ROOT / source).read_text()
        assert "python:config.gunicorn" in text and "access-logformat" not in text, source
    log = tmp_path / "access.log"
    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application",
                            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(log)],
                           cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        _wait_for_port(port, web)
        key = "dcp_abcdefghij_NotInTheLog0123456789"
        answer = requests.get(f"http://127.0.0.1:{port}/api/v1/me?probe=1", auth=(key, ""), timeout=30)
        assert answer.status_code == 401
        deadline = time.monotonic() + 30
        while "/api/v1/me?probe=1" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the request never reached the access log"
            time.sleep(0.1)
        line = next(line for line in log.read_text().splitlines() if "/api/v1/me?probe=1" in line)
        assert "dcp_" not in line and line.startswith("127.0.0.1 - - [") and '" 401 ' in line
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(30)
