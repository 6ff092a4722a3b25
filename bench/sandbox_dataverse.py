"""Sandbox Dataverse rate: `GET accounts?$top=50` straight at the sandbox's Web API with an
app token from msal — the floor the instance API (which proxies to it) is measured against.

The sandbox runs as its own process (`run_sandbox`, threaded, TLS) on a private SANDBOX_DIR
with its seed data; its service-protection limits are raised through the hook so the load
is not throttled. Latency: one keep-alive connection, sequential requests. Throughput: wrk
(2 threads, BENCH_CONNECTIONS connections, BENCH_DURATION) beside WhoAmI, which costs the
same token check and limits but no query. Prints one markdown section.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msal
import requests

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-sandbox-dataverse-"))
DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "8")
SEQUENTIAL = int(os.environ.get("BENCH_SANDBOX_REQUESTS", "500"))
QUERY = "accounts?$top=50"


def start_sandbox() -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "VAR_DIR": str(WORK), "SANDBOX_ENABLED": "1", "DJANGO_SETTINGS_MODULE": "config.settings",
           "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    env.pop("SANDBOX_DIR", None)
    proc = subprocess.Popen([sys.executable, "manage.py", "run_sandbox", "--http-port", "0", "--https-port", "0",
                             "--quiet"], cwd=ROOT, env=env, stdout=open(WORK / "sandbox.log", "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    runtime_path = WORK / "sandbox" / "runtime.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            runtime = json.loads(runtime_path.read_text())
            if runtime.get("pid") == proc.pid:
                return proc, runtime
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            raise SystemExit((WORK / "sandbox.log").read_text()[-3000:])
        time.sleep(0.05)
    raise SystemExit("the sandbox did not start")


def app_token(session: requests.Session, runtime: dict) -> tuple[str, str]:
    seed = json.loads((ROOT / "setup_portal" / "sandbox" / "seed.json").read_text())
    app = next(a for a in seed["apps"] if a["role"] == "default")
    secret = next(s["value"] for s in app["secrets"] if s["expires"].startswith("+"))
    dynamics = f"{runtime['backchannel_base']}/dataverse/{seed['environments'][0]['name']}"
    client = msal.ConfidentialClientApplication(app["client_id"], client_credential=secret,
                                                authority=runtime["authority"], instance_discovery=False,
                                                http_client=session)
    return client.acquire_token_for_client([f"{dynamics}/.default"])["access_token"], f"{dynamics}/api/data/v9.2/"


def wrk(url: str, token: str) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency",
                          "-H", f"Authorization: Bearer {token}", "-H", "Accept: application/json", url],
                         capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": re.search(r"50%\s+([\d.]+\w+)", out).group(1), "p99": re.search(r"99%\s+([\d.]+\w+)", out).group(1),
            "errors": int(bad.group(1)) if bad else 0, "total": int(re.search(r"(\d+) requests in", out).group(1))}


def main() -> int:
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 1
    proc, runtime = start_sandbox()
    try:
        session = requests.Session()
        session.verify = runtime["ca_cert_path"]
        session.trust_env = False
        hooks = f"{runtime['backchannel_base']}/_sandbox/dataverse/limits"
        session.post(hooks, json={"requests": 10**9, "execution_ms": 10**12, "concurrent": 10_000},
                     timeout=10).raise_for_status()
        token, api = app_token(session, runtime)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        first = session.get(api + QUERY, headers=headers, timeout=10)
        assert first.status_code == 200 and len(first.json()["value"]) == 50, first.text[:300]
        size = len(first.content)
        for _ in range(50):
            session.get(api + QUERY, headers=headers, timeout=10)
        times = []
        for _ in range(SEQUENTIAL):
            started = time.perf_counter()
            session.get(api + QUERY, headers=headers, timeout=10).raise_for_status()
            times.append(time.perf_counter() - started)
        loads = {"WhoAmI (token check and limits, no query)": wrk(api + "WhoAmI", token),
                 f"`GET {QUERY}` (all columns, 50 rows)": wrk(api + QUERY, token),
                 "`GET accounts?$select=name,revenue&$filter=statecode eq 0&$orderby=name&$top=50`":
                     wrk(api + "accounts?$select=name,revenue&$filter=statecode%20eq%200&$orderby=name&$top=50",
                         token)}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(15)
        shutil.rmtree(WORK, ignore_errors=True)
    median = statistics.median(times) * 1000
    p95 = statistics.quantiles(times, n=20)[-1] * 1000
    print("## Sandbox Dataverse: the floor for the instance API\n")
    print(f"`run_sandbox` (one process, threaded, TLS on loopback) with its seed data (300 accounts); an app token "
          f"from msal (client credentials); service-protection limits raised through the hook. `GET {QUERY}` "
          f"answers {size:,} bytes of JSON.\n")
    print(f"Sequential, one keep-alive connection, {SEQUENTIAL} requests: median **{median:.1f} ms**, "
          f"p95 {p95:.1f} ms.\n")
    print(f"wrk, 2 threads, {CONNECTIONS} connections, {DURATION} per row, on the same 2-core machine as the "
          "sandbox:\n")
    print("| request | requests/s | p50 | p99 | non-2xx/3xx |")
    print("|---|---|---|---|---|")
    for name, r in loads.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50']} | {r['p99']} | {r['errors']} of {r['total']} |")
    query_rps = loads[f"`GET {QUERY}` (all columns, 50 rows)"]["rps"]
    print(f"\nThe sandbox serves `GET {QUERY}` at about **{query_rps:.0f} requests/s**: the instance API, which adds "
          "its own authentication, rate limit, call log and an HTTP hop to this, is measured against that floor. "
          "wrk and the sandbox share the 2 cores, and Python's GIL bounds one sandbox process to about one core.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
