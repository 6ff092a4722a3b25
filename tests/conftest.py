"""Shared fixtures: the three named users, a logged-in client per role, and a real Celery worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from setup_portal.teams.roles import ensure_roles, set_portal_admin, set_role

pytest_plugins = ["tests.sandbox_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="session", autouse=True)
def _require_ci_services():
    """In CI a run configured for PostgreSQL/Redis must reach them: fail, never skip."""
    if os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        return
    from setup_portal.views import broker_ok

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        import psycopg

        db = settings.DATABASES["default"]
        try:
            psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres",
                            connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            pytest.exit(f"CI=true and PostgreSQL at {db['HOST']}:{db['PORT']} is unreachable: {exc}", returncode=3)
    if settings.CELERY_BROKER_URL.startswith("redis") and not broker_ok():
        pytest.exit(f"CI=true and the Redis broker {settings.CELERY_BROKER_URL} is unreachable", returncode=3)


def _make_user(django_user_model, username: str, role: str | None):
    ensure_roles()
    user = django_user_model.objects.create_user(username=username, email=f"{username}@example.com",
                                                 password=PASSWORD)
    set_role(user, role)
    return user


@pytest.fixture
def alice(db, django_user_model):
    """Admin of the Default team and portal administrator, as the teams migration left every admin."""
    user = _make_user(django_user_model, "alice", "admin")
    set_portal_admin(user)
    return user


@pytest.fixture
def bob(db, django_user_model):
    """Team lead."""
    return _make_user(django_user_model, "bob", "teamlead")


@pytest.fixture
def charlie(db, django_user_model):
    """Signed-in user with no role."""
    return _make_user(django_user_model, "charlie", None)


def _client_for(user) -> Client:
    """Each role gets its own client, so several can be used in one test."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice):
    return _client_for(alice)


@pytest.fixture
def bob_client(bob):
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie):
    return _client_for(charlie)


def private_broker_env(folder: Path) -> dict[str, str]:
    """A broker of its own for a group of child processes, so their worker never takes
    the messages meant for another test's worker (file folder, or the next Redis db)."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if url.startswith("redis"):
        base, _, db = url.rpartition("/")
        return {"CELERY_BROKER_URL": f"{base}/{int(db or 0) + 1}"}
    return {"CELERY_BROKER_DIR": str(folder)}


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that must see the test database and broker."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class WorkerProcess:
    """A real `celery worker` child process; `kill()` sends SIGKILL, `start()` starts a new one."""

    def __init__(self, log_path: Path, concurrency: int = 1, env: dict[str, str] | None = None):
        self.log_path = log_path
        self.concurrency = concurrency
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
             f"--concurrency={self.concurrency}", "--pool=prefork", "--without-gossip", "--without-mingle",
             "--without-heartbeat", f"--hostname=test-{os.getpid()}-{time.monotonic_ns()}@%h"],
            cwd=ROOT, env=subprocess_env(**self.env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"Celery worker did not become ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and pool children)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)

    def pause(self) -> None:
        """Hold the whole process group (SIGSTOP): work enqueued meanwhile waits in the broker, so a
        test can start watching before the work starts. Always `resume()` (in a finally)."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real Celery worker process reading the test database; data must be committed (transactional_db)."""
    # Messages left by earlier tests (whose rows are gone, and whose ids the flushed
    # database hands out again) must not reach this test's worker.
    from config.celery import app

    app.control.purge()
    worker = WorkerProcess(tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """allauth keeps login rate-limit counters in the cache; one test's failures must not lock out the next.
    The default cache lives in the database: only tests that use the database can (and need to) clear it."""
    from django.core.cache import cache

    # db, transactional_db, live_server and the django_db marker all go through this helper.
    if "_django_db_helper" not in request.fixturenames and not request.node.get_closest_marker("django_db"):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    cache.clear()
    yield
    cache.clear()
