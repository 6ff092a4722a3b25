"""Wizard throughput: requests per second for a wizard stage GET and POST under gunicorn with
2 workers, beside a bare Django view under the same gunicorn. Load comes from wrk, a separate
process on loopback, for a fixed time per scenario.

Then, with gunicorn stopped, the same GET and POST run in-process under pyinstrument
(PROFILE_REQUESTS each, same database and session) to say where a request's time goes:
template rendering (including the form widgets' templates), SQL, ORM and form code, and the
rest (middleware, view, request/response)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "8")
PROFILE_REQUESTS = int(os.environ.get("BENCH_PROFILE_REQUESTS", "300"))

# Runs in a child process with the benchmark's environment; prints JSON {scenario: {category: seconds}}.
PROFILE_SCRIPT = """
import json, sys
import django; django.setup()
from django.test import Client
from pyinstrument import Profiler

session_key, stage_path, body, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = Client(HTTP_HOST="127.0.0.1")
client.cookies["sessionid"] = session_key
content_type = "application/x-www-form-urlencoded"

def get():
    assert client.get(stage_path).status_code == 200

def post():
    assert client.post(stage_path, body, content_type=content_type).status_code == 302

# Innermost match wins: SQL run while a template renders counts as SQL.
CATEGORIES = [("django/db/backends/", "SQL (database driver)"), ("sqlite3", "SQL (database driver)"),
              ("django/template/", "template rendering"), ("django/forms/renderers", "template rendering"),
              ("django/db/models/", "ORM (building queries, model instances)"),
              ("django/forms/", "form handling (fields, validation)")]

def category(path, inherited):
    for needle, label in CATEGORIES:
        if path and needle in path:
            return label
    return inherited

def walk(frame, inherited, parts):
    label = category(frame.file_path, inherited)
    own = frame.time - sum(child.time for child in frame.children)
    parts[label] = parts.get(label, 0.0) + max(own, 0.0)
    for child in frame.children:
        walk(child, label, parts)

out = {}
for name, request in (("GET", get), ("POST", post)):
    for _ in range(20):
        request()
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(n):
        request()
    profiler.stop()
    parts = {}
    walk(profiler.last_session.root_frame(), "the rest (middleware, views, request/response, sessions)", parts)
    out[name] = parts
print(json.dumps(out))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """Create an admin with a draft at the environment stage; return (session cookie, setup id)."""
    script = """
import django; django.setup()
from django.contrib.auth import get_user_model, HASH_SESSION_KEY, SESSION_KEY, BACKEND_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from setup_portal.teams.roles import set_role
from setup_portal.wizard.actions import do_create_setup, do_complete_stage
user = get_user_model().objects.create_user("benchadmin", password="bench-password-123")
set_role(user, "admin")
setup = do_create_setup(acting_user=user)
do_complete_stage(setup, "account", changes={"prerequisites": {"dynamics_account": True, "consent_admin": True,
                  "register_app": True}}, started_at=None, acting_user=user)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(session.session_key, setup.pk)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[-2], out[-1]


def wrk(url: str, *, headers: dict[str, str], lua: Path | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if lua:
        cmd += ["-s", str(lua)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "errors": int(bad.group(1)) if bad else 0, "total": total}


def main() -> int:
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 1
    var = Path(tempfile.mkdtemp(prefix="bench-wizard-"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DEBUG": "0", "VAR_DIR": str(var),
           "SECRET_KEY": "bench-" + "k" * 60, "ALLOWED_HOSTS": "127.0.0.1,testserver", "SECURE_SSL_REDIRECT": "0",
           "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "SANDBOX_ENABLED": "0", "LOG_LEVEL": "WARNING",
           "PASSWORD_RESET_ENABLED": "0"}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    session_key, setup_id = prepare(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                            "--workers", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/bench/bare/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        stage_url = f"{base}/setup/{setup_id}/environment/"
        page = requests.get(stage_url, cookies={"sessionid": session_key}, timeout=5)
        assert page.status_code == 200, page.status_code
        csrf_cookie = page.cookies["csrftoken"]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        body = urlencode({"csrfmiddlewaretoken": token, "dynamics_url": "https://contoso.crm4.dynamics.com",
                          "tenant": "contoso.onmicrosoft.com", "cloud": "public"})
        check = requests.post(stage_url, data=body, allow_redirects=False, timeout=5,
                              cookies={"sessionid": session_key, "csrftoken": csrf_cookie},
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert check.status_code == 302, (check.status_code, check.text[:500])
        lua = var / "post.lua"
        lua.write_text('wrk.method = "POST"\nwrk.body = "' + body + '"\n'
                       'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
        cookie = f"sessionid={session_key}; csrftoken={csrf_cookie}"
        results = {
            "Bare Django view (fixed string)": wrk(f"{base}/bench/bare/", headers={}),
            "Wizard stage GET (environment)": wrk(stage_url, headers={"Cookie": cookie}),
            "Wizard stage POST (environment, valid, records a stage)": wrk(stage_url, headers={"Cookie": cookie},
                                                                           lua=lua),
        }
    finally:
        web.terminate()
        web.wait(10)
    try:
        profile = json.loads(subprocess.run(
            [sys.executable, "-c", PROFILE_SCRIPT, session_key, f"/setup/{setup_id}/environment/", body,
             str(PROFILE_REQUESTS)], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout)
    finally:
        shutil.rmtree(var, ignore_errors=True)
    bare = results["Bare Django view (fixed string)"]["rps"]
    print("## Wizard throughput (gunicorn, 2 workers, SQLite, DEBUG off)\n")
    print(f"wrk, 2 threads, {CONNECTIONS} connections, {DURATION} per row, on the same 2-core machine as the server.\n")
    print("| request | requests/s | p50 | p99 | non-2xx/3xx | share of bare view |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50']} | {r['p99']} | {r['errors']} of {r['total']} | "
              f"{r['rps'] / bare:.0%} |")
    get_rps = results["Wizard stage GET (environment)"]["rps"]
    post_rps = results["Wizard stage POST (environment, valid, records a stage)"]["rps"]
    print(f"\nThe portal's stage costs about {bare / get_rps:.1f}x the bare view for a GET and "
          f"{bare / post_rps:.1f}x for a POST: the bare view is Django's floor (routing, middleware, no "
          "database), the stage adds the session and user lookups, the setup row, the form and its template. "
          "wrk and gunicorn share the 2 cores, so absolute rates are lower than on a server with a separate "
          "load generator; other work on the machine adds noise. No issue sets a numeric target here.\n")
    print(f"Where a request's time goes (in-process, pyinstrument, {PROFILE_REQUESTS} requests each, "
          "gunicorn stopped; share of wall time; a query run while a template renders counts as ORM/SQL, "
          "not as template):\n")
    labels = sorted({label for parts in profile.values() for label in parts},
                    key=lambda label: -profile["GET"].get(label, 0.0))
    print("| part | GET | POST |")
    print("|---|---:|---:|")
    totals = {name: sum(parts.values()) or 1.0 for name, parts in profile.items()}
    for label in labels:
        print(f"| {label} | {profile['GET'].get(label, 0.0) / totals['GET']:.0%} | "
              f"{profile['POST'].get(label, 0.0) / totals['POST']:.0%} |")
    template_share = profile["GET"].get("template rendering", 0.0) / totals["GET"]
    top = max(profile["GET"], key=profile["GET"].get)
    print(f"\nFor the GET, template rendering (the stage page, its form widgets and the base layout) takes "
          f"{template_share:.0%} of the time"
          + (", the largest part." if top == "template rendering" else f"; the largest part is {top}.")
          + " The POST renders no page (it redirects), so its time goes to the form, the stage record and "
          "the SQL writes instead.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
