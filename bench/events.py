"""Benchmark: polled Dataverse changes to signed webhooks in the sandbox's inspector.

Set-up: the sandbox tenant (its change generator and webhook inspector), two separate
`celery worker --concurrency=1` processes, no beat: the benchmark calls the planner (`plan_polls`)
and `poll_instance` itself, as beat would. Default pass: SQLite and the file-system broker (the
portal's default set-up). `BENCH_EVENTS_SERVICES=1`: PostgreSQL (`BENCH_EVENTS_DATABASE_URL`,
database recreated) and Redis (`BENCH_EVENTS_REDIS_URL`, db flushed).

100 server-to-server instances (Ready, polling `accounts` of the sandbox environment) each send
their events to their own inspector bin, which verifies the Standard Webhooks signature with the
instance's secret. All instances poll the same environment, so one generated change is one event
(and one webhook) per instance that polls it.

(a) Latency: one change, one poll of one instance sent to the workers, until the inspector has the
    webhook; repeated. Clocks (one machine, one wall clock): the poll task sent, the Event row
    written by the poll, the DeliveryAttempt started, the inspector's receive time.
(b) Throughput: 100 created accounts, all 100 instances due, `plan_polls` hands them out;
    10,000 events delivered. Clock from the planner call to the inspector's last receive.
    Lost/duplicated: every Event's webhook-id answered 200 exactly once at the inspector.
(c) Outage: 10 instances' bins answer 500 for 2 minutes while changes arrive (two batches, one
    at the start and one half-way); then they answer again. The portal's default retry schedule
    (5 s, 30 s, 120 s, ... jittered ±20%) is used, no override. Every event must be delivered
    after the receiver returns, once.

Prints one markdown section.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-events-"))
INSTANCES = int(os.environ.get("BENCH_EVENTS_INSTANCES", "100"))
CHANGES = int(os.environ.get("BENCH_EVENTS_CHANGES", "100"))  # per instance in (b)
SAMPLES = int(os.environ.get("BENCH_EVENTS_SAMPLES", "50"))
OUTAGE_S = float(os.environ.get("BENCH_EVENTS_OUTAGE", "120"))
OUTAGE_INSTANCES = 10
WORKERS = 2
TARGET_P95_S = 1.0
SERVICES = os.environ.get("BENCH_EVENTS_SERVICES") == "1"
PG_URL = os.environ.get("BENCH_EVENTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_evbench")
REDIS_URL = os.environ.get("BENCH_EVENTS_REDIS_URL", "redis://127.0.0.1:6379/2")

os.environ.update({
    "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(WORK), "SANDBOX_ENABLED": "1",
    "DATABASE_URL": PG_URL if SERVICES else f"sqlite:///{WORK / 'bench.sqlite3'}",
    "CELERY_BROKER_URL": REDIS_URL if SERVICES else "filesystem://",
    "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
})
os.environ.pop("CELERY_BROKER_DIR", None)
sys.path.insert(0, str(ROOT))


def fresh_services() -> None:
    """The benchmark's own PostgreSQL database (dropped and made again) and Redis db (flushed)."""
    import psycopg
    import redis

    name = PG_URL.rsplit("/", 1)[1]
    with psycopg.connect(PG_URL.rsplit("/", 1)[0].replace("postgres://", "postgresql://") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS_URL).flushdb()


if SERVICES:
    fresh_services()

import django  # noqa: E402

from bench import processes  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402

# The benchmark's own children log under its WORK folder.
spawn = functools.partial(processes.spawn, WORK)
start_sandbox = functools.partial(processes.start_sandbox, WORK)


def start_worker(n: int) -> subprocess.Popen:
    log = f"worker{n}.log"
    return spawn(["-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=1", "--pool=prefork",
                  "--without-gossip", "--without-mingle", "--without-heartbeat", f"--hostname=bench{n}@%h"],
                 log, lambda: b"ready." in (WORK / log).read_bytes(), f"worker {n}",
                 env={"LOG_LEVEL": "INFO"})  # Celery's "ready." is INFO: LOG_LEVEL=WARNING would hide it


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)


class Sandbox:
    def __init__(self, info: dict):
        self.base = info["backchannel_base"]
        self.http = requests.Session()
        self.http.trust_env, self.http.verify = False, info["ca_cert_path"]

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = self.http.request(method, f"{self.base}/_sandbox/{path}", json=body, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def bin_url(self, name: str) -> str:
        return f"{self.base}/_sandbox/webhooks/{name}"

    def received(self, name: str) -> list[dict]:
        return self.admin("GET", f"webhooks/{name}?format=json")["deliveries"]


class Changes:
    """The generator's changes, and which of them each instance has not polled yet."""

    def __init__(self, sbx: Sandbox, instance_ids: list):
        self.sbx = sbx
        self.unseen: dict = {i: set() for i in instance_ids}

    def make(self, **plan) -> list[str]:
        made = self.sbx.admin("POST", "dataverse/contoso/changes", plan)["changes"]
        ids = {c["id"] for c in made}
        for pending in self.unseen.values():
            pending.update(ids)
        return sorted(ids)

    def polled(self, ids) -> int:
        """Events the next poll of these instances should make: one per record changed since the last."""
        total = 0
        for i in ids:
            total += len(self.unseen[i])
            self.unseen[i] = set()
        return total


def wait(condition, what: str, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}; logs in {WORK}")
        time.sleep(0.05)
    return time.monotonic() - started


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> None:
    call_command("migrate", verbosity=0)
    sandbox = start_sandbox()
    workers: list[subprocess.Popen] = []
    try:
        workers = [start_worker(n) for n in range(1, WORKERS + 1)]
        run()
    finally:
        for proc in (*workers, sandbox):
            stop(proc)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


def run() -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from setup_portal.events.models import Delivery, DeliveryAttempt, Event, PollState, WebhookEndpoint
    from setup_portal.instances.models import Instance
    from setup_portal.polling.poller import plan_polls, poll_instance
    from setup_portal.sandbox.info import sandbox_info

    info = sandbox_info()
    sbx = Sandbox(info)
    sbx.admin("POST", "dataverse/limits", {"requests": 1_000_000, "execution_ms": 100_000_000, "concurrent": 1000})
    owner = get_user_model().objects.create_user("bench", email="bench@example.com")
    instances = []
    for n in range(INSTANCES):
        inst = Instance.objects.create(owner=owner, name=f"bench-events-{n:03d}", dynamics_url=info["dynamics_url"],
                                       tenant=info["tenant_id"], auth_type="s2s", client_id=info["s2s_client_id"],
                                       client_secret=info["s2s_client_secret"], use_sandbox=True,
                                       status=Instance.Status.READY, polling_enabled=True,
                                       polling_resources=["accounts"], polling_interval_minutes=1440)
        endpoint = WebhookEndpoint.objects.create(instance=inst, enabled=True, url=sbx.bin_url(f"ev{n}"))
        sbx.admin("POST", f"webhooks/ev{n}/config", {"secret": endpoint.secret})
        instances.append(inst)
    ids = [i.pk for i in instances]
    changes = Changes(sbx, ids)

    # Polls every 1440 minutes: none falls due by itself while the benchmark runs; it makes them due.
    def make_due(subset) -> None:
        PollState.objects.filter(instance_id__in=subset).update(next_poll_at=timezone.now() - dt.timedelta(seconds=1))

    # Baseline: the first poll of each instance keeps a delta link and sends nothing.
    plan_polls()
    wait(lambda: PollState.objects.filter(instance_id__in=ids, baseline_at__isnull=False,
                                          lease_owner="").count() == len(ids), "the baselines", 300)

    results: dict = {}
    # (b) throughput first, on a quiet queue.
    changes.make(accounts={"create": CHANGES}, seed=1)
    expected = changes.polled(ids)
    make_due(ids)
    started_wall = time.time()
    started = time.monotonic()
    handed = plan_polls()
    planned_s = time.monotonic() - started
    wait(lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() >= expected
         and Event.objects.filter(type__startswith="crm.").count() >= expected, f"{expected} deliveries", 1800)
    db_done_s = time.monotonic() - started
    per_bin = {n: sbx.received(f"ev{n}") for n in range(INSTANCES)}
    received = [r for items in per_bin.values() for r in items]
    ok = [r for r in received if r["answered"] == "200"]
    events = set(Event.objects.filter(type__startswith="crm.").values_list("id", flat=True))
    counts = Counter(r["webhook_id"] for r in ok)
    last_at = max(r["at"] for r in ok)
    results["b"] = {
        "handed": handed, "planned_s": planned_s, "expected": expected, "events": len(events),
        "received_ok": len(ok), "distinct": len(counts), "lost": len(events - set(counts)),
        "duplicated": sum(c - 1 for c in counts.values() if c > 1), "unverified": sum(not r["verified"] for r in ok),
        "wall_s": last_at - started_wall, "db_done_s": db_done_s,
        "polls_done_s": max(PollState.objects.filter(instance_id__in=ids).values_list("last_poll_at", flat=True))
        .timestamp() - started_wall,
    }

    # (a) latency: one change, one poll of instance 0, until its webhook is at the inspector.
    first = instances[0]
    lat_sent, lat_event, lat_queue, lat_post = [], [], [], []
    for k in range(SAMPLES + 2):
        before = Event.objects.filter(instance=first).count()
        changes.make(accounts={"update": 1} if k % 2 else {"create": 1}, seed=100 + k)
        changes.polled([first.pk])
        sent = time.time()
        poll_instance.delay(str(first.pk))
        wait(lambda before=before: Event.objects.filter(instance=first).count() > before, "the poll's event", 60)
        event = Event.objects.filter(instance=first).order_by("-sequence").first()
        wait(lambda event=event: Delivery.objects.filter(event=event, status=Delivery.Status.SUCCEEDED).exists(),
             "the delivery", 60)
        got = next(r for r in sbx.received("ev0") if r["webhook_id"] == event.id)
        attempt = DeliveryAttempt.objects.filter(delivery__event=event).order_by("started_at").first()
        if k < 2:
            continue  # warm-ups
        lat_sent.append(got["at"] - sent)
        lat_event.append(got["at"] - event.created_at.timestamp())
        lat_queue.append(attempt.started_at.timestamp() - event.created_at.timestamp())
        lat_post.append(got["at"] - attempt.started_at.timestamp())
    results["a"] = {"sent": lat_sent, "event": lat_event, "queue": lat_queue, "post": lat_post}

    # (c) outage: OUTAGE_INSTANCES bins fail with 500 for OUTAGE_S seconds.
    down = ids[1:1 + OUTAGE_INSTANCES]
    names = [f"ev{n}" for n in range(1, 1 + OUTAGE_INSTANCES)]
    old_events = set(Event.objects.filter(instance_id__in=down).values_list("id", flat=True))
    for name in names:
        sbx.admin("POST", f"webhooks/{name}/config", {"fail": "500"})
    down_at = time.time()
    expected_c = 0
    for batch, seed in ((20, 301), (10, 302)):
        changes.make(accounts={"create": batch}, seed=seed)
        expected_c += changes.polled(down)
        make_due(down)
        plan_polls()
        if seed == 301:
            time.sleep(max(0.0, down_at + OUTAGE_S / 2 - time.time()))
    time.sleep(max(0.0, down_at + OUTAGE_S - time.time()))
    up_at = time.time()  # the first bin answers again from here; all of them a few ms later
    for name in names:
        sbx.admin("POST", f"webhooks/{name}/config", {"fail": None})
    new_events = Event.objects.filter(instance_id__in=down).exclude(id__in=old_events)
    wait(lambda: new_events.count() >= expected_c and Delivery.objects.filter(event__in=new_events).exclude(
        status=Delivery.Status.SUCCEEDED).count() == 0, "the outage's deliveries", 900)
    new_ids = set(new_events.values_list("id", flat=True))
    items = [r for name in names for r in sbx.received(name) if r["webhook_id"] in new_ids]
    ok_c = Counter(r["webhook_id"] for r in items if r["answered"] == "200")
    failed_while_down = sum(r["answered"] != "200" for r in items)
    attempts = list(Delivery.objects.filter(event__in=new_events).values_list("attempts", flat=True))
    results["c"] = {
        "expected": expected_c, "events": len(new_ids), "delivered": len(ok_c),
        "lost": len(new_ids - set(ok_c)), "duplicated": sum(c - 1 for c in ok_c.values() if c > 1),
        "early": sum(1 for r in items if r["answered"] == "200" and r["at"] < up_at),
        "refused": failed_while_down, "last_after_up": max(r["at"] for r in items if r["answered"] == "200") - up_at,
        "attempts_max": max(attempts), "attempts_median": statistics.median(attempts),
        "down_s": up_at - down_at,
    }
    report(results)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def report(r: dict) -> None:
    a, b, c = r["a"], r["b"], r["c"]
    load = os.getloadavg()
    setup = "PostgreSQL and Redis (broker)" if SERVICES else "SQLite and the file-system broker"
    short = "PostgreSQL + Redis" if SERVICES else "SQLite + file broker"
    print(f"## Events: polled changes to delivered webhooks ({short})\n")
    print(f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {cpu_model()} ({os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}); load average at the end {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f} (other work was running on the machine). {setup}; {WORKERS} `celery worker "
          f"--concurrency=1` processes; the sandbox tenant's change generator and webhook inspector (each "
          f"instance its own bin, verifying signatures with `standardwebhooks`); no beat — the benchmark calls "
          f"`plan_polls` / `poll_instance` as beat would. {INSTANCES} server-to-server instances poll `accounts` "
          "of the same sandbox environment, so one generated change is one event and one webhook per instance.\n")
    verdict = "met" if p95(a["sent"]) < TARGET_P95_S else "NOT met"
    print(f"**(a) From the poll that sees a change to the delivered webhook** — {len(a['sent'])} samples "
          "(after 2 warm-ups), one change and one poll of one instance each:\n")
    print("| measure | median | p95 | max |")
    print("|---|---:|---:|---:|")
    for label, values in (("poll task sent → webhook received", a["sent"]),
                          ("event written by the poll → webhook received", a["event"]),
                          ("of which: event written → delivery attempt started", a["queue"]),
                          ("of which: attempt started → received (sign, guard, POST)", a["post"])):
        print(f"| {label} | {statistics.median(values) * 1000:.0f} ms | {p95(values) * 1000:.0f} ms | "
              f"{max(values) * 1000:.0f} ms |")
    print(f"\nTarget: p95 under 1 s from the poll — **{verdict}** ({p95(a['sent']) * 1000:.0f} ms, counted from the "
          "moment the poll task is sent, so it includes the broker hand-off and the Dataverse request).\n")
    rate = b["received_ok"] / b["wall_s"] if b["wall_s"] else 0
    print(f"**(b) {b['expected']:,} changes across {INSTANCES} instances, {WORKERS} workers** — {CHANGES} accounts "
          f"created, all {INSTANCES} instances made due, one `plan_polls` call ({b['handed']} polls handed out "
          f"in {b['planned_s']:.2f} s); clock from that call to the inspector's last receive:\n")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| events emitted (expected {b['expected']:,}) | {b['events']:,} |")
    print(f"| all polls done | {b['polls_done_s']:.1f} s |")
    print(f"| last webhook received | {b['wall_s']:.1f} s |")
    print(f"| rate | {rate:.0f} webhooks/s |")
    print(f"| lost (an event whose webhook-id never got a 200) | {b['lost']} |")
    print(f"| duplicated (a webhook-id received twice) | {b['duplicated']} |")
    print(f"| signature not verified at the inspector | {b['unverified']} |\n")
    print(f"**(c) Receiver down for {c['down_s']:.0f} s** — {OUTAGE_INSTANCES} instances' bins answer 500; "
          f"{c['expected']} changes reach them in two batches (at the start and half-way); then the bins answer "
          "200 again. Default retry schedule (5 s, 30 s, 120 s, 600 s, ... each ±20%; no override), retries "
          "queued by the worker with a countdown, no beat:\n")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| events (expected {c['expected']}) | {c['events']} |")
    print(f"| attempts refused with 500 while down | {c['refused']} |")
    print(f"| delivered after the receiver returned | {c['delivered'] - c['early']} of {c['events']} |")
    print(f"| last delivered, after the return | {c['last_after_up']:.0f} s |")
    print(f"| attempts per delivery (median / max) | {c['attempts_median']:.0f} / {c['attempts_max']} |")
    print(f"| lost / duplicated | {c['lost']} / {c['duplicated']} |\n")
    print("The last one arrives by the next scheduled retry after the return: an event that failed at the "
          "start of the outage had its 4th try due 124-186 s after its first (5+30+120 s, jittered).")


if __name__ == "__main__":
    main()
