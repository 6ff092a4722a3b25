"""Instance API tail (issue 23): where a slow answer under wrk waits, with gunicorn set-ups side by side.

`bench/crm_api.py`'s portal and sandbox, but several portals at once (the same database and
instance), each under its own gunicorn set-up, and wrk rounds interleaved (straight to the
sandbox, then each portal, BENCH_TAIL_ROUNDS times) so background load falls on all alike.
Every portal runs with bench/gunicorn_timing.py, which notes per request when it was read,
answered and closed; per keep-alive connection that splits wrk's latency into: waiting before
the request was read (gunicorn's poller, main loop, thread pool and the GIL), the handler
(Django, the view, Dataverse), and the close (the call log INSERT) that the next request on
the connection waits for. Prints a markdown section for bench/RESULTS.md.

    .venv/bin/python bench/crm_api_tail.py        # SQLite; BENCH_CRM_DATABASE_URL/BENCH_CRM_CACHE_URL as crm_api.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import crm_api  # noqa: E402
from bench import sandbox_dataverse as sdv  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_TAIL_ROUNDS", "3"))
# name -> (workers, threads, extra environment, source tree)
SETUPS = {
    "2 workers x 8 threads (today)": (2, 8, {}, ROOT),
    "2 workers x 8 threads, rate limit off": (2, 8, {"CRM_RATE_LIMIT": "off"}, ROOT),
    "4 workers x 2 threads": (4, 2, {}, ROOT),
}
# A before/after comparison in one run: BENCH_TAIL_BEFORE=<a copy of the tree before the change>
# and BENCH_TAIL_SETUPS="before:2x8,after:2x8,after:2x8:CRM_CALL_LOG_WRITER=inline" (after = this
# tree; an optional third part sets environment variables, separated by spaces).
if os.environ.get("BENCH_TAIL_SETUPS"):
    SETUPS = {}
    for item in os.environ["BENCH_TAIL_SETUPS"].split(","):
        which, shape, *extra = item.split(":")
        workers, threads = shape.split("x")
        root = Path(os.environ["BENCH_TAIL_BEFORE"]) if which == "before" else ROOT
        env = dict(pair.split("=", 1) for pair in " ".join(extra).split())
        name = f"{which}: {workers} workers x {threads} threads" + "".join(f", {k}={v}" for k, v in env.items())
        SETUPS[name] = (int(workers), int(threads), env, root)


def start(workers: int, threads: int, extra: dict, root: Path, port: int) -> tuple[subprocess.Popen, Path]:
    timing = crm_api.WORK / f"timing-{port}"
    timing.mkdir()
    env = {**os.environ, **crm_api.ENV, **extra, "PYTHONPATH": str(root), "BENCH_TIMING_DIR": str(timing)}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:bench.gunicorn_timing", "config.wsgi",
                             "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
                             "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
                            cwd=root, env=env, stdout=open(crm_api.WORK / f"gunicorn-{port}.log", "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, timing


def phases(timing: Path, since: float, until: float) -> dict[str, list[float]]:
    """ms per request served in [since, until): wait before read, handler, close."""
    out = defaultdict(list)
    for path in timing.glob("*.tsv"):
        by_port = defaultdict(list)
        for line in path.read_text().splitlines():
            port, parsed, written, closed, first = line.split("\t")
            by_port[port].append((float(parsed), float(written), float(closed), first == "1"))
        for rows in by_port.values():
            rows.sort()
            for before, row in zip([None, *rows], rows, strict=False):
                if not since <= row[0] < until:
                    continue
                out["handler"].append((row[1] - row[0]) * 1000)
                # a thread's first request opens its connections (database, Dataverse)
                out["first handler" if row[3] else "later handler"].append((row[1] - row[0]) * 1000)
                out["close"].append((row[2] - row[1]) * 1000)
                if before is not None:
                    out["wait"].append((row[0] - before[2]) * 1000)
                    # what the client saw, close of the previous answer to this one sent
                    out["seen"].append((row[1] - before[1]) * 1000)
    return out


def ms(text: str) -> float:
    value = float(text.rstrip("msu"))
    return value * 1000 if text.endswith("s") and not text.endswith(("ms", "us")) else \
        value / 1000 if text.endswith("us") else value


def main() -> int:
    import requests

    load_before = os.getloadavg()
    sandbox, runtime = sdv.start_sandbox()
    portals = {}
    try:
        direct = requests.Session()
        direct.verify = runtime["ca_cert_path"]
        direct.trust_env = False
        limits = {"requests": 10**9, "execution_ms": 10**12, "concurrent": 10_000}
        direct.post(f"{runtime['backchannel_base']}/_sandbox/dataverse/limits", json=limits,
                    timeout=10).raise_for_status()
        _, api = sdv.app_token(direct, runtime)
        token = crm_api.prepare_portal()
        direct_url, direct_headers = crm_api.direct_request(api)
        headers = {"Authorization": f"Bearer {token}"}
        for name, (workers, threads, extra, root) in SETUPS.items():
            port = crm_api.free_port()
            proc, timing = start(workers, threads, extra, root, port)
            portals[name] = (proc, timing, f"http://127.0.0.1:{port}{crm_api.PORTAL_QUERY}")
        for _, _, url in portals.values():
            session = requests.Session()
            crm_api.wait_until_serving(session, url, headers)
            for _ in range(30):
                session.get(url, headers=headers, timeout=10)
        results = defaultdict(list)
        for _ in range(ROUNDS):
            results["straight to the sandbox"].append(crm_api.wrk(direct_url, direct_headers))
            for name, (_, timing, url) in portals.items():
                since = time.time()
                run = crm_api.wrk(url, headers)
                run["phases"] = phases(timing, since, time.time())
                results[name].append(run)
        load = os.getloadavg()
    finally:
        for proc, _, _ in portals.values():
            os.killpg(proc.pid, 15)
            proc.wait(15)
        os.killpg(sandbox.pid, 15)
        sandbox.wait(15)
        shutil.rmtree(crm_api.WORK, ignore_errors=True)
        shutil.rmtree(sdv.WORK, ignore_errors=True)
    report(results, load_before, load)
    return 0


def report(results: dict, load_before, load) -> None:
    setup = (f"PostgreSQL and {'Redis' if 'CACHE_URL' in crm_api.ENV else 'the database'} cache"
             if crm_api.ENV["DATABASE_URL"].startswith("postgres") else "SQLite and the database cache")
    print(f"{setup}; wrk 2 threads, {sdv.CONNECTIONS} connections, {sdv.DURATION} per run, {ROUNDS} rounds "
          f"interleaved; load average {load_before[0]:.1f} before, "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} after.\n")
    direct = results["straight to the sandbox"]
    print("wrk per round (requests/s, p50, p99 in ms):\n")
    print("| | " + " | ".join(f"round {i + 1}" for i in range(ROUNDS)) + " | median rps | median p50 | median p99 "
          "| added p99 (median of rounds) | % of direct rps |")
    print("|---|" + "---|" * ROUNDS + "---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        cells = " | ".join(f"{r['rps']:.0f}, {ms(r['p50']):.0f}, {ms(r['p99']):.0f}"
                           + (f" ({r['errors']} non-2xx)" if r["errors"] else "") for r in runs)
        added = statistics.median(ms(r["p99"]) - ms(d["p99"]) for r, d in zip(runs, direct, strict=True))
        share = statistics.median(r["rps"] / d["rps"] for r, d in zip(runs, direct, strict=True))
        print(f"| {name} | {cells} | {statistics.median(r['rps'] for r in runs):.0f} | "
              f"{statistics.median(ms(r['p50']) for r in runs):.0f} | "
              f"{statistics.median(ms(r['p99']) for r in runs):.0f} | "
              + ("—" if name == "straight to the sandbox" else f"{added:.0f}") + " | "
              + ("—" if name == "straight to the sandbox" else f"{share:.0%}") + " |")
    print("\nWhere the portal's requests spent their time (all rounds, ms, from the server's timing lines): "
          "`wait` = the previous answer on the connection closed to this request read; `handler` = read to "
          "answered; `close` = answered to closed (the call log INSERT); `seen` = previous answer to this "
          "answer, what wrk measures:\n")
    print("| | requests | wait p50 / p99 / max | handler p50 / p99 / max | close p50 / p99 / max | seen p50 / p99 "
          "| a thread's first request: n, handler p50 / max | later requests: handler p50 / p99 / max |")
    print("|---|---:|---|---|---|---|---|---|")
    for name, runs in results.items():
        if name == "straight to the sandbox":
            continue
        merged = defaultdict(list)
        for r in runs:
            for key, values in r["phases"].items():
                merged[key].extend(values)
        def trio(key, merged=merged):
            v = merged[key]
            return f"{crm_api.pct(v, 0.5):.1f} / {crm_api.pct(v, 0.99):.1f} / {max(v):.0f}" if v else "—"
        seen, first = merged["seen"], merged["first handler"]
        print(f"| {name} | {len(merged['handler']):,} | {trio('wait')} | {trio('handler')} | {trio('close')} | "
              f"{crm_api.pct(seen, 0.5):.1f} / {crm_api.pct(seen, 0.99):.1f} | "
              + (f"{len(first)}, {statistics.median(first):.0f} / {max(first):.0f}" if first else "0")
              + f" | {trio('later handler')} |")


if __name__ == "__main__":
    raise SystemExit(main())
