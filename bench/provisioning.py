"""Benchmark: callback-to-Ready latency of provisioning, against the sandbox, with one worker.

For each of N provisionings (default 100): an OAuth 2.0 sign-in on the sandbox's pages
(not timed), then the clock starts when the callback's work begins (code redemption,
id_token checks, authorization recorded), the instance is created and enqueued, and the
clock stops at the instance's `ready_at` as written by a real Celery worker process
(Redis broker db 7 when Redis answers, else the file-system broker). The sandbox's own
share is measured by replaying, from this process, the same HTTP requests one
provisioning sends (a fresh TLS connection each, as the worker's msal apps open them).

Private SQLite database and var/ folder; never the developer's. Prints a markdown section.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-provisioning-"))
N = int(os.environ.get("BENCH_PROVISIONINGS", "100"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
TARGET_P95_S = 1.0
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(WORK), "SANDBOX_ENABLED": "1",
    "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
})
sys.path.insert(0, str(ROOT))


def _redis_ok() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return True
    except Exception:  # any failure means "use the file-system broker instead"
        return False


BROKER = REDIS_URL if _redis_ok() else "filesystem://"
os.environ["CELERY_BROKER_URL"] = BROKER

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402

from setup_portal.accounts.roles import set_role  # noqa: E402


def start(args: list[str], log: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=dict(os.environ),
                            stdout=open(WORK / log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def start_sandbox() -> subprocess.Popen:
    proc = start(["manage.py", "run_sandbox", "--http-port", "0", "--https-port", "0", "--quiet"], "sandbox.log")
    runtime = WORK / "sandbox" / "runtime.json"

    def ready() -> bool:
        try:
            return json.loads(runtime.read_text()).get("pid") == proc.pid
        except (OSError, ValueError):
            return False

    wait_for(ready, "the sandbox")
    data = json.loads(runtime.read_text())
    os.environ["SANDBOX_HTTP_PORT"], os.environ["SANDBOX_HTTPS_PORT"] = str(data["http_port"]), str(data["https_port"])
    return proc


def start_worker() -> subprocess.Popen:
    proc = start(["-m", "celery", "-A", "config", "worker", "--loglevel=WARNING", "--concurrency=1",
                  "--pool=prefork", "--without-gossip", "--without-mingle", "--without-heartbeat",
                  "--hostname=bench@%h"], "worker.log")
    time.sleep(3)  # the worker logs nothing at WARNING when ready; its first task waits in the queue anyway
    return proc


def sign_in(auth_url: str, info: dict) -> dict:
    """Submit the sandbox's sign-in (and consent) forms as a browser would; returns the callback query."""
    browser = requests.Session()
    browser.trust_env = False
    page = browser.get(auth_url, allow_redirects=False, timeout=10)
    fields = {"username": info["username"], "password": info["password"]}
    while not page.is_redirect:
        action = unescape(re.search(r'<form[^>]*action="([^"]*)"', page.text).group(1))
        flow = unescape(re.search(r'name="flow" value="([^"]*)"', page.text).group(1))
        page = browser.post(urljoin(page.url, action), data={"flow": flow, **fields}, allow_redirects=False,
                            timeout=10)
        fields = {"action": "accept"}
    return dict(parse_qsl(urlsplit(page.headers["Location"]).query))


def sandbox_share(info: dict, access_token: str, rounds: int = 30) -> float:
    """Median time of the HTTP requests one provisioning sends, replayed straight at the sandbox."""
    authority = info["authority"]
    base = info["dynamics_url"] + "/api/data/v9.2"
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json",
               "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
    discovery = f"{authority}/v2.0/.well-known/openid-configuration"
    api = ["/WhoAmI", "/RetrieveCurrentOrganization(AccessType=@p1)", "/accounts?$top=1",
           "/EntityDefinitions", "/WhoAmI"]
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _step in range(6):  # one msal application (and its discovery request) per step
            with requests.Session() as s:
                s.trust_env, s.verify = False, info["ca_cert_path"]
                s.get(discovery, timeout=10).raise_for_status()
        for path in api:
            with requests.Session() as s:
                s.trust_env, s.verify = False, info["ca_cert_path"]
                s.get(base + path, headers=headers, timeout=10)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    call_command("migrate", verbosity=0)
    if BROKER.startswith("redis"):
        import redis

        redis.Redis.from_url(BROKER).flushdb()  # db 7 is the benchmark's own
    sandbox = start_sandbox()
    worker = start_worker()
    try:
        run(worker)
    finally:
        for proc in (worker, sandbox):
            os.killpg(proc.pid, 15)
            proc.wait(15)


def run(worker: subprocess.Popen) -> None:
    from django.contrib.auth import get_user_model

    from setup_portal.azure import client as azure
    from setup_portal.azure.actions import do_record_setup_authorization
    from setup_portal.azure.models import AuthFlow
    from setup_portal.instances.actions import do_create_instance
    from setup_portal.instances.models import Instance
    from setup_portal.sandbox.info import sandbox_info
    from setup_portal.wizard.models import Setup

    info = sandbox_info()
    alice = get_user_model().objects.create_user("alice", password="bench-password-123")
    set_role(alice, "admin")
    latencies, callback_times = [], []
    for i in range(N + 3):  # three warm-up rounds, not counted
        setup = Setup.objects.create(owner=alice, use_sandbox=True, dynamics_url=info["dynamics_url"],
                                     tenant=info["tenant_id"], auth_type="oauth2", client_id=info["client_id"],
                                     client_secret=info["client_secret"])
        auth_url = azure.start_authorization(user=alice, setup=setup,
                                             redirect_uri="http://127.0.0.1:8000/azure/callback/")
        query = sign_in(auth_url, info)
        started = time.time()
        authorization = azure.complete_authorization(user=alice, query=query)
        do_record_setup_authorization(setup, authorization=authorization,
                                      flow=AuthFlow.objects.get(state=query["state"]), acting_user=alice)
        callback_done = time.time()
        job = do_create_instance(setup, name=f"bench-{i}", tags=[], polling_enabled=True,
                                 polling_resources=["accounts", "contacts"], polling_interval_minutes=15,
                                 filter_nulls=True, acting_user=alice)
        deadline = time.monotonic() + 60
        while True:
            instance = Instance.objects.only("status", "ready_at").get(pk=job.instance_id)
            if instance.status == "ready":
                break
            if instance.status == "failed" or time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"provisioning {i} ended {instance.status}: {job.steps.values_list('key', 'status')}"
                                 f"\n{(WORK / 'worker.log').read_text()[-3000:]}")
            time.sleep(0.005)
        if i >= 3:
            latencies.append(instance.ready_at.timestamp() - started)
            callback_times.append(callback_done - started)
    token = azure.acquire_token_for_instance(Instance.objects.first()).access_token
    share = sandbox_share(info, token)
    median, p95 = statistics.median(latencies), percentile(latencies, 95)
    verdict = "met" if p95 < TARGET_P95_S else "NOT met"
    print("## Provisioning: callback to Ready (issue 5)\n")
    print(f"{N} OAuth 2.0 provisionings against the sandbox tenant, one Celery worker (prefork, concurrency 1), "
          f"broker `{BROKER.split('://')[0]}`{' (db 7)' if BROKER.startswith('redis') else ''}, SQLite. "
          "Clock: from the start of the callback's work (code redemption, id_token verified against the JWKS, "
          "authorization recorded) through instance creation and the worker's six steps, to `ready_at`.\n")
    print("| measure | median | p95 |")
    print("|---|---|---|")
    print(f"| callback to Ready | {median * 1000:.0f} ms | {p95 * 1000:.0f} ms |")
    print(f"| of which the callback itself | {statistics.median(callback_times) * 1000:.0f} ms | "
          f"{percentile(callback_times, 95) * 1000:.0f} ms |")
    print(f"| sandbox's own time for the worker's HTTP requests (replayed) | {share * 1000:.0f} ms | — |")
    print(f"\nTarget: p95 under {TARGET_P95_S:.0f} s — **{verdict}** ({p95 * 1000:.0f} ms). The sandbox's share is "
          f"about {share / median * 100:.0f}% of the median; the rest is broker hand-off, msal application "
          "set-up and database writes for each step.")


if __name__ == "__main__":
    main()
