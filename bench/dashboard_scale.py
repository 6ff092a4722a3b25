"""Benchmark (issues 13, 25): the dashboard at 100,000 and 1,000,000 instances on PostgreSQL (or
SQLite with BENCH_SCALE_DATABASE_URL=sqlite:////path/file.sqlite3), beside Django admin's changelist of
the same Instance model.

One PostgreSQL database (BENCH_SCALE_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/bench_dashboard_scale, created and dropped here) grows in
three steps with `seed_instances --teams 20`: 10 instances (query counts), 100,000 (the
dashboard against the changelist: same columns, filters, search, 50 a page; bench/dashboard_admin.py,
registered only in bench/dashboard_settings.py), 1,000,000 (p95 of the default page, a status
filter, a search and page 1,000; a team lead's dashboard). Requests go through Django's full
stack in this process (DEBUG off, persistent connection), interleaved: each round requests every
page once, so background load on the shared machine falls on all of them alike. VACUUM ANALYZE runs
after each seeding step, as autovacuum would. Prints one markdown section for bench/RESULTS.md.

BENCH_SCALE_SIZES=10,100000 stops after 100,000; BENCH_SCALE_KEEP=1 keeps the database;
BENCH_SCALE_TEAMS (default 20) spreads the instances over that many teams (1: all in the Default team,
as `make run`'s seed_instances does).

Seeding a million rows takes half an hour on a busy machine, so it can be done once and reused:
BENCH_SCALE_SEED_ONLY=1 creates the database and seeds it exactly as a full run would (same steps,
teams and random seeds; nothing measured), keeps it and records the seeding times in the database's
comment. BENCH_SCALE_REUSE=1 then measures an existing database that already holds the largest size:
no creating, seeding or dropping; the smaller steps (query counts at 10, the changelist comparison at
100,000) are skipped and the output says so.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-dashboard-scale-"))
DATABASE_URL = os.environ.get("BENCH_SCALE_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/bench_dashboard_scale")
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "bench.dashboard_settings", "VAR_DIR": str(WORK), "DEBUG": "0",
    "DATABASE_URL": DATABASE_URL, "SECRET_KEY": "bench-" + "x" * 60,
    "ALLOWED_HOSTS": "testserver", "FIELD_ENCRYPTION_KEYS": "YmVuY2gtb25seS1rZXktbmV2ZXItcHJvZHVjdGlvbiE=",
    "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING", "PASSWORD_RESET_ENABLED": "0",
})
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.pop("CACHE_URL", None)
sys.path.insert(0, str(ROOT))

# Query counts at the first size, the changelist comparison at the second, p95 targets at the third.
SIZES = [int(n) for n in os.environ.get("BENCH_SCALE_SIZES", "10,100000,1000000").split(",")]
COMPARE_AT = SIZES[1] if len(SIZES) > 1 else None
BIG_AT = SIZES[2] if len(SIZES) > 2 else None
ROUNDS = int(os.environ.get("BENCH_SCALE_ROUNDS", "60"))
WARMUP = 5
TEAMS = int(os.environ.get("BENCH_SCALE_TEAMS", "20"))
TARGET_P95_MS = 100.0
SEED_ONLY = os.environ.get("BENCH_SCALE_SEED_ONLY", "") not in ("", "0")
REUSE = os.environ.get("BENCH_SCALE_REUSE", "") not in ("", "0")
# SQLite only: BENCH_SCALE_ANALYZE=0 measures without planner statistics (no ANALYZE ever ran).
ANALYZE = os.environ.get("BENCH_SCALE_ANALYZE", "1") != "0"


SQLITE = DATABASE_URL.startswith("sqlite:")


def _sqlite_path() -> Path:
    return Path(urlsplit(DATABASE_URL).path)


def _admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def create_database() -> bool:
    """A fresh database for the run; False when PostgreSQL is not there (the benchmark is skipped)."""
    if SQLITE:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{_sqlite_path()}{suffix}").unlink(missing_ok=True)
        return True
    import psycopg

    name = urlsplit(DATABASE_URL).path.lstrip("/")
    try:
        with psycopg.connect(_admin_url(DATABASE_URL).replace("postgres://", "postgresql://"), autocommit=True,
                             connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return False
    return True


def _database_name() -> str:
    return urlsplit(DATABASE_URL).path.lstrip("/")


def drop_database() -> None:
    if SQLITE:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{_sqlite_path()}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    name = urlsplit(DATABASE_URL).path.lstrip("/")
    with psycopg.connect(_admin_url(DATABASE_URL).replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    if SEED_ONLY and REUSE:
        sys.exit("BENCH_SCALE_SEED_ONLY and BENCH_SCALE_REUSE exclude each other.")
    if not REUSE and not create_database():
        print("## Dashboard at scale (issue 13)\n\nSkipped: no PostgreSQL at "
              f"`{urlsplit(DATABASE_URL).hostname}` (set BENCH_SCALE_DATABASE_URL).")
        return
    import django

    django.setup()
    try:
        run()
    finally:
        from django.db import connection

        connection.close()
        if not (os.environ.get("BENCH_SCALE_KEEP") or SEED_ONLY or REUSE):
            drop_database()


def run() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from setup_portal.accounts.actions import do_create_user
    from setup_portal.dashboard import filters, paging
    from setup_portal.instances.models import Instance
    from setup_portal.teams.models import Membership

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    if REUSE:
        held = Instance.objects.count()
        if held != SIZES[-1]:
            sys.exit(f"BENCH_SCALE_REUSE: {_database_name()} holds {held:,} instances, not {SIZES[-1]:,} "
                     "(seed it with BENCH_SCALE_SEED_ONLY=1).")
    root = get_user_model().objects.filter(username="root").first()
    if root is None:
        root, _ = do_create_user("root", role=None, portal_admin=True)
        root.is_superuser = root.is_staff = True
        root.save(update_fields=["is_superuser", "is_staff"])
    admin_client = Client()
    admin_client.force_login(root)
    devnull = open(os.devnull, "w")

    cpu: dict[str, list[float]] = {}

    def get(client: Client, url: str) -> float:
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        cpu.setdefault(url, []).append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:500])
        return elapsed

    def queries(client: Client, url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        return len(captured.captured_queries)

    def seed_to(size: int, have: int) -> float:
        started = time.perf_counter()
        call_command("seed_instances", size - have, teams=TEAMS, history=min(1000, size - have), seed=size,
                     stdout=devnull)
        with connection.cursor() as cursor:
            # As autovacuum would: the seeding's batches upsert the same counter rows hundreds of times,
            # leaving a few thousand live rows among ~750,000 dead ones (17 ms on the chart's query).
            # SQLite keeps no statistics unless asked: PRAGMA optimize gathers them where the planner
            # would use them (BENCH_SCALE_ANALYZE=0 measures without, as a fresh `make run` database is).
            if SQLITE and ANALYZE:
                cursor.execute("PRAGMA optimize=0x10002")
            elif not SQLITE:
                cursor.execute("VACUUM ANALYZE")
        return time.perf_counter() - started

    def measure(pages: list[tuple[str, Client, str]]) -> list[list[float]]:
        for _, client, url in pages:
            for _ in range(WARMUP):
                get(client, url)
        times: list[list[float]] = [[] for _ in pages]
        for _ in range(ROUNDS):
            for i, (_, client, url) in enumerate(pages):
                times[i].append(get(client, url))
        return times

    def page_1000_url(client: Client, user, size: int) -> str:
        """The URL Next leads to after 999 pages: a cursor at the 49,950th row of the default list
        (an earlier page in a smaller trial run)."""
        from setup_portal.instances.access import visible_instances

        number = min(1000, int(size * 0.8) // paging.PAGE_SIZE)
        rows = filters.filter_instances({}, rows=visible_instances(user)).select_related("owner")
        row = rows[(number - 1) * paging.PAGE_SIZE - 1]
        cursor = paging.make_cursor(row, filters.DEFAULT_SORT, number, forward=True)
        return f"/instances/?cursor={cursor}"

    dashboard = {"default page": "/instances/", "status filter": "/instances/?status=failed",
                 "search": "/instances/?q=contoso"}
    changelist = {"default page": "/admin/instances/instance/",
                  "status filter": "/admin/instances/instance/?status__exact=failed",
                  "search": "/admin/instances/instance/?q=contoso"}
    lines = [f"## Dashboard at scale: {', '.join(f'{n:,}' for n in SIZES[1:])} instances, "
             f"{'SQLite' if SQLITE else 'PostgreSQL'}", ""]
    counts_at: dict[int, dict[str, int]] = {}
    have, lead_client = 0, None
    seeded: list[str] = []
    results: list[str] = []
    checks: list[tuple[str, bool, str]] = []
    if REUSE:
        with connection.cursor() as cursor:
            cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           [_database_name()])
            note = cursor.fetchone()[0] or "times not recorded"
        have = SIZES[-1]
        seeded.append(f"earlier, by `BENCH_SCALE_SEED_ONLY=1` ({note}); reused here (`BENCH_SCALE_REUSE=1`)")
        results += [f"Reused database: the {', '.join(f'{n:,}' for n in SIZES[:-1])} steps (query counts at "
                    f"{SIZES[0]:,}, the changelist comparison at {COMPARE_AT:,}) are skipped in this run.", ""]
    for size in SIZES[-1:] if REUSE else SIZES:
        if not REUSE:
            took = seed_to(size, have)
            have = size
            seeded.append(f"{size:,} in {took:.0f} s")
            if SEED_ONLY:
                print(f"seeded {size:,} in {took:.0f} s", flush=True)
                continue
        if lead_client is None:
            lead = Membership.objects.filter(role=Membership.Role.TEAM_LEAD).select_related("user").first().user
            lead_client = Client()
            lead_client.force_login(lead)
        urls = {**{f"dashboard, {k}": u for k, u in dashboard.items()},
                "dashboard, team lead's default page": "/instances/"}
        counts_at[size] = {name: queries(lead_client if "team lead" in name else admin_client, url)
                           for name, url in urls.items()}
        if size != SIZES[0]:
            counts_at[size]["dashboard, page 1,000"] = queries(admin_client, page_1000_url(admin_client, root, size))
        if size == COMPARE_AT and not REUSE:
            pages = []
            for key in dashboard:
                pages += [(f"dashboard, {key}", admin_client, dashboard[key]),
                          (f"changelist, {key}", admin_client, changelist[key])]
            times = measure(pages)
            results += [f"### {size:,} instances in {TEAMS} teams: the dashboard beside the admin changelist", "",
                        "| page | median ms | p95 ms | portal CPU ms (median) | SQL queries |",
                        "|---|---:|---:|---:|---:|"]
            for (name, client, url), series in zip(pages, times, strict=True):
                results.append(f"| {name} | {statistics.median(series):.1f} | {p95(series):.1f} | "
                               f"{statistics.median(cpu[url]):.1f} | {queries(client, url)} |")
            for i, key in enumerate(dashboard):
                mine, theirs = statistics.median(times[2 * i]), statistics.median(times[2 * i + 1])
                checks.append((f"{size:,}: dashboard {key} at most the changelist's time (medians)", mine <= theirs,
                               f"{mine:.1f} vs {theirs:.1f} ms ({mine / theirs:.2f}x)"))
            results.append("")
        if size == BIG_AT:
            big = [(f"dashboard, {k}", admin_client, u) for k, u in dashboard.items()]
            big += [("dashboard, page 1,000", admin_client, page_1000_url(admin_client, root, size)),
                    ("dashboard, team lead's default page (1 team of 20)", lead_client, "/instances/"),
                    ("changelist, default page (for reference)", admin_client, changelist["default page"])]
            times = measure(big)
            results += [f"### {size:,} instances in {TEAMS} teams", "",
                        "| page | median ms | p95 ms | portal CPU ms (median) | SQL queries |",
                        "|---|---:|---:|---:|---:|"]
            for (name, client, url), series in zip(big, times, strict=True):
                results.append(f"| {name} | {statistics.median(series):.1f} | {p95(series):.1f} | "
                               f"{statistics.median(cpu[url]):.1f} | {queries(client, url)} |")
                if not name.startswith("changelist"):
                    checks.append((f"{size:,}: {name} p95 under {TARGET_P95_MS:.0f} ms",
                                   p95(series) < TARGET_P95_MS, f"{p95(series):.1f} ms"))
            results.append("")
    if SEED_ONLY:
        note = "seeded " + ", ".join(seeded)
        with connection.cursor() as cursor:
            cursor.execute(f'COMMENT ON DATABASE "{_database_name()}" IS %s', [note])
        print(f"{note}; kept {_database_name()} for BENCH_SCALE_REUSE=1.")
        return
    small, largest = counts_at.get(SIZES[0], {}), counts_at[SIZES[-1]]
    for name, count in (small.items() if SIZES[0] != SIZES[-1] else ()):
        checks.append((f"same query count at {SIZES[0]} and {SIZES[-1]:,}: {name}", count == largest[name],
                       f"{count} and {largest[name]}"))
    if "dashboard, page 1,000" in largest:
        checks.append(("page 1,000 costs the default page's queries", largest["dashboard, page 1,000"]
                       == largest["dashboard, default page"], f"{largest['dashboard, page 1,000']}"))
    statistics_note = ("no ANALYZE (the planner without statistics)" if SQLITE and not ANALYZE
                       else "PRAGMA optimize (ANALYZE where useful) after each step" if SQLITE
                       else "VACUUM ANALYZE after each step")
    engine = (f"SQLite {connection.Database.sqlite_version}" if SQLITE
              else f"PostgreSQL {connection.pg_version // 10000}")
    lines += [f"`GET` through Django's full stack in-process (DEBUG off, {engine}, persistent connection), "
              "signed in as a portal administrator (sees every team; also the admin site's superuser) unless "
              f"noted; {ROUNDS} timed rounds after {WARMUP} warm-up requests per page, pages interleaved. Seeded "
              f"with `seed_instances --teams {TEAMS}` ({'bulk_create' if SQLITE else 'COPY'}): "
              f"{', '.join(seeded)}; {statistics_note}. Search text `contoso` (in about one "
              "instance name in 15); status filter `failed` (about 6%).", "", *results,
              "| target | result | |", "|---|---|---|"]
    lines += [f"| {name} | {value} | **{'met' if ok else 'NOT met'}** |" for name, ok, value in checks]
    missed = [name for name, ok, _ in checks if not ok]
    lines += ["", f"**NOT met:** {'; '.join(missed)}." if missed else "All targets **met**.",
              "", f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} on "
                  f"{os.cpu_count()} cores. Portal CPU is this process's CPU time per request (Django, "
                  "template, driver), which background load inflates less than wall time; the database's "
                  "own time is in the wall time only."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
