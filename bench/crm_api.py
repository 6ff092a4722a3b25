"""Instance API overhead: `GET /api/v1/crm/accounts?pageSize=50` through the portal (gunicorn, 2 gthread workers)
beside the same page asked straight of the sandbox's Web API with a bearer token, in one run.

The sandbox runs as its own process with its limits raised; the portal runs under gunicorn on a
private SQLite database (DEBUG off, database cache, the rate limit on but too high to refuse) with one Ready
server-to-server instance and its instance token. Latency: one keep-alive connection each,
interleaved sequential requests, so background load falls on both alike; added latency is the
difference of the percentiles. Throughput: wrk (2 threads, BENCH_CONNECTIONS connections,
BENCH_DURATION) against each. The call log says how the portal's own time splits (latency_ms
minus upstream_ms). Prints one markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import sandbox_dataverse as sdv  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="bench-crm-api-"))
SEQUENTIAL = int(os.environ.get("BENCH_CRM_REQUESTS", "400"))
CPU_CALLS = int(os.environ.get("BENCH_CRM_CPU_CALLS", "500"))
WARMUP = os.environ.get("BENCH_CRM_WARMUP", "3s")
PORTAL_QUERY = "/api/v1/crm/accounts?pageSize=50"
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(WORK), "DEBUG": "0",
    "DATABASE_URL": f"sqlite:///{WORK / 'portal.sqlite3'}", "SECRET_KEY": "bench-" + "x" * 60,
    "ALLOWED_HOSTS": "127.0.0.1", "FIELD_ENCRYPTION_KEYS": "YmVuY2gtb25seS1rZXktbmV2ZXItcHJvZHVjdGlvbiE=",
    "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING", "PASSWORD_RESET_ENABLED": "0", "SANDBOX_ENABLED": "1",
    "SANDBOX_DIR": str(sdv.WORK / "sandbox"), "CRM_RATE_LIMIT": "100000/s burst 100000", "CELERY_BROKER_URL": "filesystem://",
}
# The production set-up: BENCH_CRM_DATABASE_URL=postgres://… BENCH_CRM_CACHE_URL=redis://… (a database
# this run may fill and empty).
if os.environ.get("BENCH_CRM_DATABASE_URL"):
    ENV["DATABASE_URL"] = os.environ["BENCH_CRM_DATABASE_URL"]
if os.environ.get("BENCH_CRM_CACHE_URL"):
    ENV["CACHE_URL"] = os.environ["BENCH_CRM_CACHE_URL"]


def wrk(url: str, headers: dict, duration: str | None = None) -> dict:
    """sandbox_dataverse.wrk with any headers (the direct request needs the same Prefer as the portal's)."""
    args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    command = ["wrk", "-t2", f"-c{sdv.CONNECTIONS}", f"-d{duration or sdv.DURATION}", "--latency", *args, url]
    out = subprocess.run(command,
                         capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": re.search(r"50%\s+([\d.]+\w+)", out).group(1), "p99": re.search(r"99%\s+([\d.]+\w+)", out).group(1),
            "errors": int(bad.group(1)) if bad else 0, "total": int(re.search(r"(\d+) requests in", out).group(1))}


def direct_request(api: str) -> tuple[str, dict]:
    """The request the portal sends for PORTAL_QUERY (same URL, headers and the instance's own token)."""
    import requests

    from setup_portal.api.crm import access
    from setup_portal.crm.query import build_list_query
    from setup_portal.crm.resources import ACCOUNTS
    from setup_portal.dataverse.client import ODATA_HEADERS
    from setup_portal.instances.models import Instance

    query = build_list_query(ACCOUNTS, page_size="50")
    url = requests.Request("GET", api + ACCOUNTS.entity_set, params=query.params).prepare().url
    token = access.access_token(Instance.objects.get(name="bench-crm"))
    return url, {**ODATA_HEADERS, "Prefer": query.prefer, "Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_portal() -> str:
    """Migrate the private database and create a Ready instance against the sandbox; its token."""
    os.environ.update(ENV)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from setup_portal.instances.instance_token import new_instance_token, token_hash, token_prefix
    from setup_portal.instances.models import Instance
    from setup_portal.sandbox.info import sandbox_info

    call_command("migrate", verbosity=0)
    info = sandbox_info()
    Instance.objects.filter(name="bench-crm").delete()  # a database kept from an earlier run
    owner, _ = get_user_model().objects.get_or_create(username="bench")
    token = new_instance_token()
    Instance.objects.create(owner=owner, name="bench-crm", dynamics_url=info["dynamics_url"],
                            tenant=info["tenant_id"], auth_type="s2s", client_id=info["s2s_client_id"],
                            client_secret=info["s2s_client_secret"], use_sandbox=True,
                            status=Instance.Status.READY, token_hash=token_hash(token),
                            token_prefix=token_prefix(token))
    return token


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    # The Dockerfile's worker class (threads overlap the wait for Dataverse), with 2 workers.
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2", "--worker-class",
                             "gthread", "--threads", "8", "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=open(WORK / "gunicorn.log", "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc


def wait_until_serving(session, url: str, headers: dict) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if session.get(url, headers=headers, timeout=10).status_code == 200:
                return
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.2)
    raise SystemExit((WORK / "gunicorn.log").read_text()[-3000:])


def _process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of another process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_call(token: str, sandbox_pid: int) -> dict:
    """CPU time per call, portal and sandbox, in ms: CPU_CALLS calls through the portal's WSGI
    application in this process (the whole middleware stack, the call log INSERT included, no
    HTTP server), the sandbox answering in its own process. CPU time, unlike requests per second,
    hardly depends on what else the shared machine runs. Median of batches of 50."""
    import io

    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    path, _, query = PORTAL_QUERY.partition("?")

    def call() -> None:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
                   "wsgi.errors": sys.stderr, "HTTP_AUTHORIZATION": f"Bearer {token}"}
        status = []
        body = app(environ, lambda s, h, exc_info=None: status.append(s))
        b"".join(body)
        body.close()  # runs the call log INSERT, as the server does after sending
        assert status[0].startswith("200"), status

    for _ in range(50):
        call()
    portal, sandbox = [], []
    for _ in range(max(1, CPU_CALLS // 50)):
        own, theirs = time.process_time(), _process_cpu_seconds(sandbox_pid)
        for _ in range(50):
            call()
        portal.append((time.process_time() - own) * 1000 / 50)
        sandbox.append((_process_cpu_seconds(sandbox_pid) - theirs) * 1000 / 50)
    return {"portal": statistics.median(portal), "sandbox": statistics.median(sandbox),
            "portal_min": min(portal), "calls": len(portal) * 50}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    import requests

    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 1
    load_before = os.getloadavg()
    sandbox, runtime = sdv.start_sandbox()
    portal = None
    try:
        direct = requests.Session()
        direct.verify = runtime["ca_cert_path"]
        direct.trust_env = False
        limits = {"requests": 10**9, "execution_ms": 10**12, "concurrent": 10_000}
        direct.post(f"{runtime['backchannel_base']}/_sandbox/dataverse/limits", json=limits,
                    timeout=10).raise_for_status()
        _, api = sdv.app_token(direct, runtime)
        instance_token = prepare_portal()
        direct_url, direct_headers = direct_request(api)
        port = free_port()
        portal = start_gunicorn(port)
        base = f"http://127.0.0.1:{port}"
        through = requests.Session()
        portal_headers = {"Authorization": f"Bearer {instance_token}"}
        wait_until_serving(through, base + PORTAL_QUERY, portal_headers)
        first = through.get(base + PORTAL_QUERY, headers=portal_headers, timeout=10).json()
        assert len(first["records"]) == 50, first
        direct_first = direct.get(direct_url, headers=direct_headers, timeout=10)
        assert len(direct_first.json()["value"]) == 50
        for _ in range(50):
            through.get(base + PORTAL_QUERY, headers=portal_headers, timeout=10)
            direct.get(direct_url, headers=direct_headers, timeout=10)
        via_portal, straight = [], []
        for _ in range(SEQUENTIAL):
            started = time.perf_counter()
            through.get(base + PORTAL_QUERY, headers=portal_headers, timeout=10).raise_for_status()
            via_portal.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            direct.get(direct_url, headers=direct_headers, timeout=10).raise_for_status()
            straight.append((time.perf_counter() - started) * 1000)
        # A short wrk run first, unmeasured, on each: every gunicorn thread's first request opens the
        # thread's database connection and its connection to Dataverse (up to seconds on a loaded
        # machine), which made most of the measured p99 when wrk's 8 connections met 16 cold threads
        # (bench/crm_api_tail.py, issue 23). The warm-up itself is reported below the table.
        warmups = {"straight to the sandbox": wrk(direct_url, direct_headers, WARMUP),
                   "through the portal": wrk(base + PORTAL_QUERY, portal_headers, WARMUP)}
        loads = {"straight to the sandbox": wrk(direct_url, direct_headers),
                 "through the portal": wrk(base + PORTAL_QUERY, portal_headers)}
        from setup_portal.api.models import ApiCall

        calls = list(ApiCall.objects.filter(status=200).values_list("latency_ms", "upstream_ms"))
        cpu = cpu_per_call(instance_token, sandbox.pid)
        load = os.getloadavg()
    finally:
        if portal is not None:
            os.killpg(portal.pid, 15)
            portal.wait(15)
        os.killpg(sandbox.pid, 15)
        sandbox.wait(15)
        shutil.rmtree(WORK, ignore_errors=True)
        shutil.rmtree(sdv.WORK, ignore_errors=True)
    report(via_portal, straight, loads, calls, cpu, load_before, load, warmups)
    return 0


def report(via_portal: list[float], straight: list[float], loads: dict, calls: list[tuple[int, int]], cpu: dict,
           load_before: tuple[float, float, float], load: tuple[float, float, float], warmups: dict) -> None:
    p50_portal, p50_direct = statistics.median(via_portal), statistics.median(straight)
    p95_portal, p95_direct = pct(via_portal, 0.95), pct(straight, 0.95)
    own = [latency - (upstream or 0) for latency, upstream in calls]
    rps_direct, rps_portal = loads["straight to the sandbox"]["rps"], loads["through the portal"]["rps"]
    added_p50 = p50_portal - p50_direct
    print("## Instance API: `GET /api/v1/crm/accounts?pageSize=50` through the portal (issues 12, 23)\n")
    setup = (f"PostgreSQL and {'Redis' if 'CACHE_URL' in ENV else 'the database'} cache"
             if ENV["DATABASE_URL"].startswith("postgres") else "SQLite and the database cache")
    print("The portal under gunicorn (2 workers, gthread with 8 threads each as in the Dockerfile, DEBUG off, "
          f"{setup}, its rate limit on but set too high to refuse) with one Ready server-to-server instance, "
          "beside the very request it sends to the sandbox's Web API "
          "(`accounts?$select=<the catalogue's 25 columns>`, `Prefer: odata.maxpagesize=50`, the instance's own "
          "access token) sent straight. The sandbox, the portal, wrk and this script share the machine's 2 cores "
          f"(and whatever else ran: load average {load_before[0]:.1f} before the run, {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} over 1 / 5 / 15 minutes at its end).\n")
    print(f"Sequential, one keep-alive connection each, {SEQUENTIAL} requests interleaved:\n")
    print("| | p50 ms | p95 ms |")
    print("|---|---:|---:|")
    print(f"| straight to the sandbox | {p50_direct:.1f} | {p95_direct:.1f} |")
    print(f"| through the portal | {p50_portal:.1f} | {p95_portal:.1f} |")
    print(f"| **added by the portal** | **{added_p50:.1f}** | **{p95_portal - p95_direct:.1f}** |\n")
    print(f"wrk, 2 threads, {sdv.CONNECTIONS} connections, {sdv.DURATION} each:\n")
    print("| | requests/s | p50 | p99 | non-2xx/3xx |")
    print("|---|---:|---|---|---|")
    for name, r in loads.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50']} | {r['p99']} | {r['errors']} of {r['total']} |")
    print(f"\nThe unmeasured {WARMUP} warm-up run before each (cold gunicorn threads): "
          + "; ".join(f"{name} {r['rps']:.0f} requests/s, p50 {r['p50']}, p99 {r['p99']}"
                      for name, r in warmups.items())
          + ".")
    if own:
        print(f"\nThe call log of the same run ({len(own):,} answered calls): the portal's own time inside Django "
              f"(latency_ms minus upstream_ms, i.e. authentication, token cache, query building, record conversion "
              f"and rendering; the log's INSERT comes after, in a writer thread) has median "
              f"{statistics.median(own):.0f} ms, p95 "
              f"{pct(own, 0.95):.0f} ms.\n")
    print(f"CPU time per call ({cpu['calls']} calls through the portal's WSGI application in-process, the call "
          "log INSERT included, the sandbox answering in its own process; median of batches of 50):\n")
    print("| | ms of CPU per call |")
    print("|---|---:|")
    print(f"| the portal | {cpu['portal']:.2f} (best batch {cpu['portal_min']:.2f}) |")
    print(f"| the sandbox, serving the same request | {cpu['sandbox']:.2f} |\n")
    ratio = rps_portal / rps_direct if rps_direct else 0
    print("| target | result | |")
    print("|---|---|---|")
    print(f"| requests/s at least 50% of direct | {ratio:.0%} ({rps_portal:.0f} / {rps_direct:.0f}) | "
          f"**{'met' if ratio >= 0.5 else 'not met'}** |")
    print(f"| added latency at most 5 ms at p50 | {added_p50:.1f} ms | **{'met' if added_p50 <= 5 else 'not met'}** |")


if __name__ == "__main__":
    raise SystemExit(main())
