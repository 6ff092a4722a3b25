"""Benchmark: a change committed in Dataverse -> delivered to the customer's receiver, in real-time mode
(Dataverse's own webhook, registered by the portal) and in polling mode at a 1-minute interval; and
10,000 changes with the sandbox dropping 5% of its pushes, the reconciliation poll catching them.

Set-up: the sandbox (Dataverse's asynchronous service posting execution contexts), the portal's web
(gunicorn, 2 workers x 4 threads) receiving the pushes, two `celery worker --concurrency=1`
processes, SQLite and the file-system broker (the portal's default set-up), one instance watching
`accounts`, its events going to a webhook bin of the sandbox (which verifies the signatures).
Changes are creates through the Web API (the portal's app, client credentials); a change's commit
time is taken when the sandbox answered the create, its delivery time is the bin's receive time
(one machine, one wall clock).

(a) Real-time: BENCH_RT_CHANGES (1,000) creates at BENCH_RT_RATE (5) per second.
(b) Polling at a 1-minute interval: BENCH_POLL_CHANGES (90) creates spread over three minutes; the
    benchmark calls the planner every minute, as beat does.
(c) Drops: BENCH_DROP_CHANGES (10,000) creates with 5% of pushes dropped; then one reconciliation
    poll. Lost: a created record without its delivered event; duplicated: bin receipts beyond events.

Prints one markdown section.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
RT_CHANGES = int(os.environ.get("BENCH_RT_CHANGES", "1000"))
RT_RATE = float(os.environ.get("BENCH_RT_RATE", "5"))
POLL_CHANGES = int(os.environ.get("BENCH_POLL_CHANGES", "90"))
POLL_MINUTES = int(os.environ.get("BENCH_POLL_MINUTES", "3"))
DROP_CHANGES = int(os.environ.get("BENCH_DROP_CHANGES", "10000"))
DROP_RATE = float(os.environ.get("BENCH_DROP_RATE", "50"))
CONCURRENCY = int(os.environ.get("BENCH_RT_CONCURRENCY", "1"))  # processes per worker node
STALL_SECONDS = 180  # the workers are given up on when nothing moved for this long


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = _free_port()
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(WORK), "SANDBOX_ENABLED": "1",
    "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}", "CELERY_BROKER_URL": "filesystem://",
    "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", "PORTAL_BASE_URL": f"http://127.0.0.1:{PORT}",
})
os.environ.pop("CELERY_BROKER_DIR", None)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

from bench import processes  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402

spawn = functools.partial(processes.spawn, WORK)


def start_worker(n: int) -> subprocess.Popen:
    log = f"worker{n}.log"
    return spawn(["-m", "celery", "-A", "config", "worker", "--loglevel=INFO", f"--concurrency={CONCURRENCY}",
                  "--pool=prefork", "--without-gossip", "--without-mingle", "--without-heartbeat",
                  f"--hostname=rt{n}@%h"],
                 log, lambda: b"ready." in (WORK / log).read_bytes(), f"worker {n}")


def start_web() -> subprocess.Popen:
    def ready() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{PORT}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    return spawn(["-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}", "--workers", "2",
                  "--threads", "4"], "web.log", ready, "the web server")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


class Crm:
    def __init__(self, info: dict):
        import msal

        session = requests.Session()
        session.trust_env, session.verify = False, info["ca_cert_path"]
        app = msal.ConfidentialClientApplication(info["client_id"], client_credential=info["client_secret"],
                                                 authority=info["authority"], instance_discovery=False,
                                                 http_client=session)
        token = app.acquire_token_for_client([f"{info['dynamics_url']}/.default"])["access_token"]
        self.http = session
        self.http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.base = info["endpoints"]["webapi"]
        self.sandbox = info["backchannel_base"]

    def create(self, name: str) -> tuple[str, float]:
        resp = self.http.post(f"{self.base}accounts", json={"name": name}, timeout=60)
        resp.raise_for_status()
        return resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")"), time.time()

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = self.http.request(method, f"{self.sandbox}/_sandbox/{path}", json=body, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def bin(self, name: str) -> dict:
        return self.admin("GET", f"webhooks/{name}?format=json")


def paced(crm: Crm, count: int, rate: float, prefix: str) -> dict[str, float]:
    committed: dict[str, float] = {}
    started = time.monotonic()
    for n in range(count):
        due = started + n / rate
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        key, at = crm.create(f"{prefix} {n}")
        committed[key] = at
    return committed


def latencies(crm: Crm, bin_name: str, committed: dict[str, float], timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {}
        for d in crm.bin(bin_name)["deliveries"]:
            data = json.loads(d["body"]).get("data", {})
            if data.get("id") in committed:
                got[data["id"]] = d["at"] - committed[data["id"]]
        if len(got) >= len(committed):
            return sorted(got.values())
        time.sleep(0.5)
    raise SystemExit(f"{len(committed) - len(got)} changes not delivered in time; logs in {WORK}")


def wait_for(count, target, what: str) -> int:
    """Wait until count() reaches target() (or target), or until it stops moving for STALL_SECONDS."""
    goal = target if callable(target) else lambda: target
    last, moved = count(), time.monotonic()
    while last < goal() and time.monotonic() - moved < STALL_SECONDS:
        time.sleep(1)
        now = count()
        if now != last:
            last, moved = now, time.monotonic()
    if last < goal():
        print(f"  {what}: {last:,} of {goal():,}, nothing moved for {STALL_SECONDS} s", file=sys.stderr)
    return last


def instance(owner, info, name: str, bin_url: str, *, realtime: bool):
    from setup_portal.events.models import RealtimeHook, WebhookEndpoint
    from setup_portal.instances.models import Instance
    from setup_portal.polling.poller import poll_instance
    from setup_portal.polling.realtime import sync_realtime

    inst = Instance.objects.create(owner=owner, name=name, dynamics_url=info["dynamics_url"], tenant=info["tenant_id"],
                                   auth_type="s2s", client_id=info["s2s_client_id"],
                                   client_secret=info["s2s_client_secret"], use_sandbox=True,
                                   status=Instance.Status.READY, polling_enabled=True, polling_resources=["accounts"],
                                   polling_interval_minutes=1)
    WebhookEndpoint.objects.create(instance=inst, enabled=True, url=bin_url)
    assert poll_instance(str(inst.pk)) == "polled"
    if realtime:
        RealtimeHook.objects.create(instance=inst, enabled=True)
        state = sync_realtime(inst.pk)
        assert state == "active", RealtimeHook.objects.get(instance=inst).message
    return inst


def main() -> None:
    call_command("migrate", verbosity=0)
    sandbox = processes.start_sandbox(WORK)
    others: list[subprocess.Popen] = []
    try:
        others = [start_web(), start_worker(1), start_worker(2)]
        run()
    finally:
        for proc in (*others, sandbox):
            stop(proc)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


def run() -> None:
    from django.contrib.auth import get_user_model

    from setup_portal.sandbox.info import sandbox_info

    info = sandbox_info()
    crm = Crm(info)
    crm.admin("POST", "dataverse/limits", {"requests": 10_000_000, "execution_ms": 1_000_000_000, "concurrent": 1000})
    owner = get_user_model().objects.create_user("bench", email="bench@example.com")
    bin_base = f"{info['backchannel_base']}/_sandbox/webhooks/"
    out = ["## Dataverse change -> customer's receiver: real-time (Dataverse webhooks) and polling (bench/realtime.py)",
           "", "| mode | changes | rate | p50 | p95 | max | target |", "|---|---|---|---|---|---|---|"]

    if RT_CHANGES:
        measure_realtime(crm, owner, info, bin_base, out)
    if POLL_CHANGES:
        measure_polling(crm, owner, info, bin_base, out)
    if DROP_CHANGES:
        measure_drops(crm, owner, info, bin_base, out)
    out += ["", "Real-time latency counts the sandbox's asynchronous post, the portal's inbound endpoint (202 after "
            "queueing), the worker reading the row (as polling does) and emitting the event, and the signed delivery. "
            "Polling latency is dominated by the interval (the planner runs every minute; a change waits for the "
            "next due poll)."]
    print("\n".join(out))


def measure_realtime(crm: Crm, owner, info: dict, bin_base: str, out: list[str]) -> None:
    from setup_portal.events.models import RealtimeHook
    from setup_portal.polling.realtime import sync_realtime

    rt = instance(owner, info, "bench-rt", bin_base + "rt", realtime=True)
    committed = paced(crm, RT_CHANGES, RT_RATE, "rt")
    lat = latencies(crm, "rt", committed, timeout=600)
    p50, p95 = pct(lat, 50), pct(lat, 95)
    out.append(f"| real-time | {len(lat)} | {RT_RATE:g}/s | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms "
               f"| {lat[-1] * 1000:.0f} ms | p95 < 1 s: {'met' if p95 < 1 else 'missed'} |")
    RealtimeHook.objects.filter(instance=rt).update(enabled=False)
    sync_realtime(rt.pk)


def measure_polling(crm: Crm, owner, info: dict, bin_base: str, out: list[str]) -> None:
    """Polling at a 1-minute interval, the planner called every minute as beat does."""
    from setup_portal.events.models import PollState
    from setup_portal.polling.poller import plan_polls

    poll = instance(owner, info, "bench-poll", bin_base + "poll", realtime=False)
    committed, started, next_plan = {}, time.monotonic(), time.monotonic() + 60
    for n in range(POLL_CHANGES):
        due = started + n * POLL_MINUTES * 60 / POLL_CHANGES
        while time.monotonic() < due:
            if time.monotonic() >= next_plan:
                plan_polls()
                next_plan += 60
            time.sleep(0.05)
        key, at = crm.create(f"poll {n}")
        committed[key] = at
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and crm.bin("poll")["count"] < len(committed):
        if time.monotonic() >= next_plan:
            plan_polls()
            next_plan += 60
        time.sleep(0.2)
    lat = latencies(crm, "poll", committed, timeout=60)
    out.append(f"| polling, 1-min interval | {len(lat)} | {len(lat) / (POLL_MINUTES * 60):.1f}/s | "
               f"{pct(lat, 50):.1f} s | {pct(lat, 95):.1f} s | {lat[-1]:.1f} s | — |")
    PollState.objects.filter(instance=poll).delete()
    type(poll).objects.filter(pk=poll.pk).update(polling_enabled=False)


def measure_drops(crm: Crm, owner, info: dict, bin_base: str, out: list[str]) -> None:
    """10,000 changes, 5% of pushes dropped, then the reconciliation poll."""
    from setup_portal.events.models import Delivery, Event, PollState
    from setup_portal.polling.poller import poll_instance

    drop = instance(owner, info, "bench-drop", bin_base + "drop", realtime=True)
    crm.admin("POST", "webhook-faults", {"drop_percent": 5})
    before = crm.admin("GET", "webhook-faults")["counters"]  # the sandbox counts since it started

    def dispatch() -> dict:
        now = crm.admin("GET", "webhook-faults")["counters"]
        return {name: now[name] - before[name] for name in now}

    begun = time.monotonic()
    committed = paced(crm, DROP_CHANGES, DROP_RATE, "drop")
    created = time.monotonic()
    events = Event.objects.filter(instance=drop, type__startswith="crm.")

    def expected() -> int:  # every push the sandbox did not drop (or give up on) becomes an event
        counters = dispatch()
        return DROP_CHANGES - counters["dropped"] - counters["gave_up"]

    pushed = wait_for(events.count, expected, "events from pushes")
    counters = dispatch()
    crm.admin("DELETE", "webhook-faults")
    pushes_done = time.monotonic()
    assert poll_instance(str(drop.pk)) == "polled"
    caught = PollState.objects.get(instance=drop).changes_found
    wait_for(lambda: Delivery.objects.filter(event__in=events, status=Delivery.Status.SUCCEEDED).count(),
             events.count(), "deliveries")
    ids = list(events.values_list("data__id", flat=True))
    lost = len(set(committed) - set(ids))
    duplicated_events = len(ids) - len(set(ids))
    received = wait_for(lambda: crm.bin("drop")["count"], len(ids), "receipts at the bin")
    out += ["", f"Drops: {DROP_CHANGES:,} creates at {DROP_RATE:g}/s ({created - begun:.0f} s), the sandbox dropped "
            f"{counters['dropped']} of {DROP_CHANGES:,} pushes "
            f"({counters['dropped'] / max(1, DROP_CHANGES):.1%}); events from pushes {pushed:,}, "
            f"{pushes_done - begun:.0f} s after the first create; the reconciliation poll caught {caught}; "
            f"events {len(ids):,} for {len(set(ids)):,} records, lost {lost}, duplicated events {duplicated_events}; "
            f"receipts at the bin {received:,} (beyond one per event: {received - len(ids)}); "
            f"{time.monotonic() - begun:.0f} s from the first create to the last delivery; the sandbox's dispatch "
            f"counters {counters}."]
    print(out[-1], file=sys.stderr)


if __name__ == "__main__":
    main()
