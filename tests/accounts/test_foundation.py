"""The foundation through HTTP: sign-in, roles, first admin, settings, health, static files, deployment checks."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import call_command

from setup_portal.teams.models import Team
from setup_portal.teams.roles import is_admin, is_team_lead
from tests.conftest import PASSWORD, ROOT, _make_user

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 20 + "-production-secret-key-for-tests-only-0123456789",
    "ALLOWED_HOSTS": "portal.example.com,127.0.0.1",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "EMAIL_URL": "smtp+tls://portal:mail-password@smtp.example.com:587",
}
# The development keys config/environment.py gives with DEBUG on (and publishes).
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production-0123456789"
DEVELOPMENT_FIELD_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk="
ENV_EXAMPLE = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))


def run_manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()
                if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_it_signs_in_and_out(alice, client):
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert b"Welcome, alice" in response.content
    response = client.post("/accounts/logout/", follow=True)
    assert b"Sign In" in response.content or b"Sign in" in response.content
    assert client.get("/").status_code == 302


def test_it_refuses_a_wrong_password(alice, client):
    response = client.post("/accounts/login/", {"login": "alice", "password": "wrong-password"})
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert "_auth_user_id" not in client.session


def test_it_rate_limits_failed_logins(alice, client):
    for i in range(6):
        client.post("/accounts/login/", {"login": "alice", "password": f"wrong-{i}"})
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_public_signup_is_closed(client, db):
    response = client.get("/accounts/signup/")
    assert b"Sign Up Closed" in response.content or b"closed" in response.content.lower()
    client.post("/accounts/signup/", {"username": "mallory", "password1": PASSWORD, "password2": PASSWORD})
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_home_shows_each_role_what_to_do_next(alice_client, bob, charlie, client):
    assert b"Connect your first Dynamics CRM environment" in alice_client.get("/").content
    client.force_login(bob)
    assert b"Nothing to review" in client.get("/").content
    client.force_login(charlie)
    body = client.get("/").content
    assert b"You have no role yet" in body
    assert b"/instances/" not in body


def test_anonymous_is_sent_to_login(client, db):
    for path in ["/", "/users/", "/users/add/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_user_admin_is_for_portal_admins_only(alice_client, bob_client, charlie, django_user_model):
    assert alice_client.get("/users/").status_code == 200
    assert bob_client.get("/users/").status_code == 403
    bob_client.force_login(charlie)
    assert bob_client.get("/users/").status_code == 403
    assert bob_client.post("/users/add/", {"username": "x", "role": "admin"}).status_code == 403
    team_admin = _make_user(django_user_model, "tess", "admin")  # an admin of a team, not of the portal
    bob_client.force_login(team_admin)
    assert bob_client.get("/users/").status_code == 403
    assert b"for portal administrators" in bob_client.get("/users/add/").content


def test_admin_adds_a_team_lead_and_sees_the_password_once(alice_client):
    response = alice_client.post("/users/add/", {"username": "dora", "email": "dora@example.com", "role": "teamlead",
                                                 "team": Team.objects.default().pk})
    assert response.status_code == 200
    password = re.search(rb'<code id="new-password">([^<]+)</code>', response.content).group(1).decode()
    dora = get_user_model().objects.get(username="dora")
    assert is_team_lead(dora) and not is_admin(dora)
    assert dora.check_password(password)
    assert password.encode() not in alice_client.get("/users/").content


def test_add_user_rejects_bad_input_with_a_message(alice_client, bob):
    response = alice_client.post("/users/add/", {"username": "bob", "role": "admin"})
    assert response.status_code == 400
    assert b"already exists" in response.content
    response = alice_client.post("/users/add/", {"username": "<script>", "role": "admin"})
    assert response.status_code == 400
    assert b"letters, digits" in response.content


def test_createuser_command_gives_the_role(db, capsys):
    call_command("createuser", "erin", "--role", "teamlead")
    assert "with password:" in capsys.readouterr().out
    assert is_team_lead(get_user_model().objects.get(username="erin"))


def test_first_admin_is_created_once(db, capsys):
    call_command("bootstrap_admin", "--email", "it-ops@contoso.com")
    out = capsys.readouterr().out
    password = re.search(r"Password: (\S+)", out).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert is_admin(admin) and admin.check_password(password)
    assert admin.email == "it-ops@contoso.com" and "it-ops@contoso.com (password resets go there)" in out
    call_command("bootstrap_admin")
    assert "no first admin created" in capsys.readouterr().out
    assert get_user_model().objects.count() == 1


def test_mfa_is_available_to_every_user(charlie_client):
    response = charlie_client.get("/accounts/2fa/")
    assert response.status_code == 200
    assert b"Authenticator App" in response.content


@pytest.mark.parametrize(("env", "message"), [
    ({"DEBUG": "maybe"}, "DEBUG='maybe' is not valid"),
    ({"CELERY_TASK_TIME_LIMIT": "soon"}, "CELERY_TASK_TIME_LIMIT='soon' is not valid"),
    ({"CELERY_BROKER_URL": "kafka://x"}, "CELERY_BROKER_URL='kafka://x' is not valid"),
    ({"CUSTOM_AUTH_CLIENT_ID": "contoso"}, "CUSTOM_AUTH_CLIENT_ID='contoso' is not valid"),
    ({"FIELD_ENCRYPTION_KEYS": "not-a-key"}, "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key"),
    ({"DEBUG": "0"}, "needs SECRET_KEY, ALLOWED_HOSTS, FIELD_ENCRYPTION_KEYS"),
    ({**PRODUCTION_ENV, "SECRET_KEY": "short"}, "SECRET_KEY is too short"),
    ({**PRODUCTION_ENV, "SECRET_KEY": ENV_EXAMPLE["SECRET_KEY"]}, "SECRET_KEY is the placeholder from .env.example"),
    ({**PRODUCTION_ENV, "SECRET_KEY": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY is the development key published"),
    ({**PRODUCTION_ENV, "SECRET_KEY": "a" * 64}, "SECRET_KEY is one character (or fewer than five) repeated"),
    ({**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEYS": DEVELOPMENT_FIELD_KEY},
     "FIELD_ENCRYPTION_KEYS holds the development key published"),
    ({**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{DEVELOPMENT_FIELD_KEY}"},
     "FIELD_ENCRYPTION_KEYS holds the development key published"),  # even only to read old values
    ({**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEYS": "A" * 43 + "="}, "FIELD_ENCRYPTION_KEYS holds a key of one byte"),
    ({"CACHE_URL": "memcached://cache:11211"}, "CACHE_URL='memcached://cache:11211' is not valid"),
    ({"PASSWORD_RESET_ENABLED": "perhaps"}, "PASSWORD_RESET_ENABLED='perhaps' is not valid"),
    ({**PRODUCTION_ENV, "EMAIL_URL": ""}, "password reset needs a mail server: set EMAIL_URL"),
    ({**PRODUCTION_ENV, "EMAIL_URL": "consolemail://"}, "password reset needs a mail server: set EMAIL_URL"),
])
def test_settings_refuse_bad_values_by_name(env, message):
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("mail", [{}, {"EMAIL_URL": "", "PASSWORD_RESET_ENABLED": "0"}],
                         ids=["with-mail-server", "without-mail-reset-off"])
def test_production_settings_pass_the_deploy_check(mail):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, **mail})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_readyz_reports_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["broker"] == "ok"


def test_readyz_is_503_when_the_broker_is_unreachable_while_healthz_stays_live(client, db, settings):
    settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS = "redis://127.0.0.1:1/0", {}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {**response.json(), "broker": "unreachable", "database": "ok"}
    assert client.get("/healthz").json() == {"status": "ok", "version": response.json()["version"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_static_files_are_served_with_debug_off(tmp_path):
    env = {**PRODUCTION_ENV, "VAR_DIR": str(tmp_path), "SECURE_SSL_REDIRECT": "0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'static.sqlite3'}", "CELERY_BROKER_URL": "filesystem://"}
    assert run_manage("collectstatic", "--noinput", "-v0", env=env).returncode == 0
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    port = _free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}} | env
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                             f"127.0.0.1:{port}", "--workers", "1"], cwd=ROOT, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                page = requests.get(f"{base}/accounts/login/", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):  # a loaded machine boots slowly
                time.sleep(0.1)
        assert page.status_code == 200
        css = re.search(r'href="(/static/css/portal\.[0-9a-f]+\.css)"', page.text).group(1)
        asset = requests.get(base + css, timeout=5, headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200
        assert asset.headers["Content-Type"].startswith("text/css")
        assert "immutable" in asset.headers["Cache-Control"]
        assert "cdn" not in page.text.lower() and "https://" not in re.sub(r"<a [^>]*>", "", page.text)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.skipif(shutil.which("docker-compose") is None and os.environ.get("CI") != "true",
                    reason="docker-compose not installed (CI installs it)")
def test_docker_compose_file_validates(tmp_path):
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Path(ROOT / "Dockerfile").read_text().startswith("FROM python:3.11")


def test_a_user_turns_on_totp_and_then_needs_the_code_to_sign_in(charlie, client):
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

    client.post("/accounts/login/", {"login": "charlie", "password": PASSWORD})
    # Turning MFA on asks for the password again first.
    page = client.post("/accounts/reauthenticate/?next=/accounts/2fa/totp/activate/", {"password": PASSWORD},
                       follow=True).content.decode()
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page.replace("\n", " ")).group(1)
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    response = client.post("/accounts/2fa/totp/activate/", {"code": code})
    assert response.status_code == 302
    client.post("/accounts/logout/")
    response = client.post("/accounts/login/", {"login": "charlie", "password": PASSWORD}, follow=True)
    assert b"authenticator code" in response.content.lower()
    assert "_auth_user_id" not in client.session


def test_sign_in_with_microsoft_appears_only_when_configured(tmp_path):
    script = ("from django.test import Client\n"
              "r = Client().get('/accounts/login/')\n"
              "print('button' if b'Sign in with Microsoft' in r.content else 'no-button')\n"
              "r = Client().post('/accounts/oidc/microsoft/login/')\n"
              "print(r.status_code)\n")
    env = {"VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'ms.sqlite3'}",
           "CELERY_BROKER_URL": "filesystem://"}
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    off = run_manage("shell", "-c", script, env=env).stdout
    assert off.splitlines()[-2] == "no-button" and off.splitlines()[-1].startswith("404")
    microsoft = {"MICROSOFT_LOGIN_CLIENT_ID": "11111111-2222-3333-4444-555555555555", "MICROSOFT_LOGIN_SECRET": "s3",
                 "MICROSOFT_LOGIN_TENANT": "contoso.onmicrosoft.com"}
    on = run_manage("shell", "-c", script.rsplit("r = Client().post", 1)[0], env={**env, **microsoft}).stdout
    assert on.splitlines()[-1] == "button"
    # A multi-tenant authority would let any directory's user match a portal user.
    refused = run_manage("check", env={**env, **microsoft, "MICROSOFT_LOGIN_TENANT": "organizations"})
    assert refused.returncode != 0 and "must name your directory" in refused.stderr
    partial = run_manage("check", env={**env, "MICROSOFT_LOGIN_CLIENT_ID": "11111111-2222-3333-4444-555555555555"})
    assert partial.returncode != 0 and "or none of them" in partial.stderr
