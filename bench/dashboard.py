"""Benchmark: the instances dashboard with 10 and with 10,000 instances, in one run.

Seeds a private SQLite database (never the developer's), renders /instances/ through
Django's full request stack (middleware, session, auth, template) as a signed-in team
lead, and reports median / 95th percentile server time and the SQL query count. Runs
with DEBUG off, as production does. Prints one markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(WORK), "DEBUG": "0",
    "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}", "SECRET_KEY": "bench-" + "x" * 60,
    "ALLOWED_HOSTS": "testserver", "FIELD_ENCRYPTION_KEYS": "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk=",
    "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING",
})
os.environ.pop("CELERY_BROKER_URL", None)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

WARMUP, RUNS = 10, 150
TARGET_P95_MS, TARGET_RATIO = 150.0, 3.0
PAGES = [("default (newest first)", "/instances/"),
         ("secret expiring soon, by expiry", "/instances/?secret=soon&sort=secret"),
         ("text search + tag", "/instances/?q=contoso&tag=emea"),
         ("page 100, by name", "/instances/?sort=name&page=100")]


def measure(client: Client, url: str) -> dict:
    for _ in range(WARMUP):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    return {"median": statistics.median(times), "p95": times[int(len(times) * 0.95) - 1],
            "queries": len(queries.captured_queries)}


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    from setup_portal.accounts.actions import do_create_user

    do_create_user("alice", role="admin", email="alice@example.com")
    bob, _ = do_create_user("bob", role="teamlead", email="bob@example.com")
    client = Client()
    client.force_login(bob)
    devnull = open(os.devnull, "w")

    call_command("seed_instances", 10, owner="alice", stdout=devnull)
    small = measure(client, "/instances/")
    started = time.perf_counter()
    call_command("seed_instances", 9990, seed=7, stdout=devnull)
    seeded_s = time.perf_counter() - started
    large = {label: measure(client, url) for label, url in PAGES}

    big = large[PAGES[0][0]]
    ratio = big["p95"] / small["p95"]
    ok = big["p95"] < TARGET_P95_MS and ratio <= TARGET_RATIO and big["queries"] == small["queries"]
    lines = [
        "## Dashboard (`bench/dashboard.py`)", "",
        f"`GET /instances/` as a signed-in team lead through the full Django stack (DEBUG off, SQLite), "
        f"{RUNS} timed requests after {WARMUP} warm-up requests per row. "
        f"Seeding 9,990 instances with `seed_instances` took {seeded_s:.1f} s.", "",
        "| instances | page | median ms | p95 ms | SQL queries |", "|---:|---|---:|---:|---:|",
        f"| 10 | default (newest first) | {small['median']:.1f} | {small['p95']:.1f} | {small['queries']} |",
    ]
    for label, result in large.items():
        lines.append(f"| 10,000 | {label} | {result['median']:.1f} | {result['p95']:.1f} | {result['queries']} |")
    lines += ["", f"Target: p95 under {TARGET_P95_MS:.0f} ms at 10,000 and within {TARGET_RATIO:.0f}x of the "
                  f"10-instance page, same query count. Result: p95 {big['p95']:.1f} ms, "
                  f"{ratio:.1f}x, {big['queries']} vs {small['queries']} queries — "
                  f"**{'met' if ok else 'missed'}**."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
