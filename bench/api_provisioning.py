"""Benchmark: server-to-server instances provisioned through the management API by a script.

A script (this process) sends `POST /api/v1/instances` for each of N instances (default 500) with a
personal API key, from a few client threads at once, then follows every job through
`GET /api/v1/jobs/{id}` until it has succeeded or failed, as the README's curl walk-through does.
Behind the API: gunicorn (2 processes), two `celery worker --concurrency=1` processes, PostgreSQL
and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL; a database of the benchmark's own, created when
missing and emptied first) and the sandbox tenant. Each POST runs the wizard's stages, asks the
sandbox for a token twice and Dataverse WhoAmI once before answering 202.

Measured: wall time from the first POST to the last job seen finished, the rate, the POSTs' own
latency, and afterwards from the database: instances created and Ready, lost jobs (any job not
succeeded), duplicates (a second instance or job for one setup, a step with more than one
successful attempt). Prints a markdown section.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-api-provisioning-"))
N = int(os.environ.get("BENCH_API_PROVISIONINGS", "500"))
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", "4"))
TIMEOUT_S = float(os.environ.get("BENCH_API_TIMEOUT", "1200"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_e_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(WORK), "SANDBOX_ENABLED": "1",
    "DATABASE_URL": DATABASE_URL, "CELERY_BROKER_URL": REDIS_URL, "CACHE_URL": "db://",
    "API_KEY_RATE_LIMIT": "off", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
})
sys.path.insert(0, str(ROOT))

from bench.processes import spawn, start_sandbox  # noqa: E402


def _create_database() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres",
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


import django  # noqa: E402

django.setup()
_create_database()

import redis  # noqa: E402
import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serving(url: str):
    def ready() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False
    return ready


def stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
    proc.wait(20)


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)  # the data migrations' rows (roles, the Default team) again
    redis.Redis.from_url(REDIS_URL).flushdb()  # the benchmark's own broker db
    procs = [start_sandbox(WORK)]
    try:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        procs.append(spawn(WORK, ["-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                                  "--workers", "2", "--threads", "4"], "web.log", _serving(f"{base}/healthz"),
                           "gunicorn"))
        for n in (1, 2):
            procs.append(spawn(WORK, ["-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
                                      "--concurrency=1", "--without-gossip", "--without-mingle",
                                      "--without-heartbeat", f"--hostname=bench{n}@%h"], f"worker{n}.log",
                               lambda: True, "a worker"))
        time.sleep(3)
        run(base)
    finally:
        for proc in reversed(procs):
            stop(proc)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


def run(base: str) -> None:
    from django.contrib.auth import get_user_model

    from setup_portal.api.keys.actions import do_create_api_key
    from setup_portal.sandbox.info import sandbox_info
    from setup_portal.teams.roles import set_role

    admin = get_user_model().objects.create_user("bench", "bench@example.com", "bench-password-123")
    set_role(admin, "admin")
    key = do_create_api_key(admin, "benchmark", acting_user=admin).key
    info = sandbox_info()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    credentials = {"client_id": info["s2s_client_id"], "client_secret": info["s2s_client_secret"],
                   "secret_expires_on": info["client_secret_expires"][:10]}

    def provision(i: int) -> tuple[float, str]:
        started = time.perf_counter()
        response = session.post(f"{base}/api/v1/instances", timeout=60, json={
            "auth_type": "s2s", "dynamics_url": info["dynamics_url"], "tenant": info["tenant_id"],
            "name": f"bench-api-{i:04d}", "tags": ["bench"], "credentials": credentials})
        if response.status_code != 202:
            raise SystemExit(f"POST {i}: {response.status_code} {response.text[:500]}")
        return time.perf_counter() - started, response.json()["job_url"]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        posted = list(pool.map(provision, range(N)))
    posted_at = time.monotonic()
    pending = {job_url for _, job_url in posted}
    outcomes: dict[str, str] = {}
    while pending and time.monotonic() - started < TIMEOUT_S:
        for job_url in list(pending):
            status = session.get(base + job_url, timeout=30).json()["status"]
            if status in ("succeeded", "failed"):
                outcomes[job_url] = status
                pending.discard(job_url)
        if pending:
            time.sleep(0.5)
    wall = time.monotonic() - started
    report(wall, posted_at - started, [latency for latency, _ in posted], outcomes, len(pending))


def report(wall: float, posting: float, latencies: list[float], outcomes: dict[str, str], unfinished: int) -> None:
    from django.db.models import Count, Q

    from setup_portal.instances.models import Instance, JobStep, ProvisioningJob, StepAttempt

    ready = Instance.objects.filter(status=Instance.Status.READY, tags__contains=",bench,").count()
    created = Instance.objects.filter(tags__contains=",bench,").count()
    lost = ProvisioningJob.objects.exclude(status=ProvisioningJob.Status.SUCCEEDED).count()
    two_instances = (Instance.objects.values("setup").annotate(n=Count("id")).filter(n__gt=1).count())
    two_jobs = (ProvisioningJob.objects.filter(kind=ProvisioningJob.Kind.PROVISION).values("instance")
                .annotate(n=Count("id")).filter(n__gt=1).count())
    twice_done = (JobStep.objects.annotate(ok=Count("runs", filter=Q(runs__outcome=StepAttempt.Outcome.SUCCEEDED)))
                  .filter(ok__gt=1).count())
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    print("## Provisioning through the management API (issue 14)\n")
    print(f"{N} server-to-server instances, each `POST /api/v1/instances` by a script ({CLIENTS} client threads, "
          "one personal API key) and followed to Ready through `GET /api/v1/jobs/{id}`; gunicorn (2 processes), "
          "2 Celery workers (concurrency 1), PostgreSQL, Redis broker, sandbox tenant.\n")
    print("| measure | value |\n|---|---|")
    print(f"| wall time, first POST to last job finished | {wall:.1f} s |")
    print(f"| rate | {N / wall:.2f} instances/s |")
    print(f"| all {N} POSTs answered 202 after | {posting:.1f} s |")
    print(f"| POST latency median / p95 | {statistics.median(latencies) * 1000:.0f} ms / {p95 * 1000:.0f} ms |")
    print(f"| instances created / Ready | {created} / {ready} |")
    print(f"| jobs succeeded / failed / unfinished | {sum(v == 'succeeded' for v in outcomes.values())} / "
          f"{sum(v == 'failed' for v in outcomes.values())} / {unfinished} |")
    print(f"| lost (a job not succeeded) | {lost} |")
    print(f"| duplicated (instances per setup > 1, provision jobs per instance > 1, steps succeeded twice) | "
          f"{two_instances}, {two_jobs}, {twice_done} |")


if __name__ == "__main__":
    main()
