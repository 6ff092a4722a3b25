"""Bulk writes: BENCH_BULK_RECORDS accounts (10,000) created through `POST /api/v1/crm/accounts/bulk`
(1,000 a call) beside accounts created one `POST /api/v1/crm/accounts` at a time (BENCH_BULK_SINGLES,
10,000 by default), both sequential from one keep-alive client, through the portal under gunicorn
against the sandbox (its limits raised), set up as bench/crm_api.py does. Records per second;
the issue's target: bulk at least 10x faster. Prints one markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import crm_api  # noqa: E402
from bench import sandbox_dataverse as sdv  # noqa: E402

RECORDS = int(os.environ.get("BENCH_BULK_RECORDS", "10000"))
SINGLES = int(os.environ.get("BENCH_BULK_SINGLES", "10000"))
PER_CALL = 1000


def main() -> int:
    import requests

    load_before = os.getloadavg()
    sandbox, runtime = sdv.start_sandbox()
    portal = None
    try:
        admin = requests.Session()
        admin.verify, admin.trust_env = runtime["ca_cert_path"], False
        limits = {"requests": 10**9, "execution_ms": 10**12, "concurrent": 10_000}
        admin.post(f"{runtime['backchannel_base']}/_sandbox/dataverse/limits", json=limits,
                   timeout=10).raise_for_status()
        token = crm_api.prepare_portal()
        port = crm_api.free_port()
        portal = crm_api.start_gunicorn(port)
        base = f"http://127.0.0.1:{port}/api/v1/crm/"
        client = requests.Session()
        client.headers["Authorization"] = f"Bearer {token}"
        crm_api.wait_until_serving(client, base + "accounts?pageSize=1", {})
        started = time.perf_counter()
        for first in range(0, RECORDS, PER_CALL):
            records = [{"name": f"Bulk bench {i}", "city": "Paris", "revenue": i} for i in
                       range(first, min(first + PER_CALL, RECORDS))]
            answer = client.post(base + "accounts/bulk", json={"records": records}, timeout=300)
            answer.raise_for_status()
            assert answer.json()["failed"] == 0, answer.json()["results"][:3]
            sent_as = answer.json()["sentAs"]
        bulk_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(SINGLES):
            client.post(base + "accounts", json={"name": f"Single bench {i}", "city": "Paris", "revenue": i},
                        timeout=60).raise_for_status()
        single_seconds = time.perf_counter() - started
        load = os.getloadavg()
    finally:
        if portal is not None:
            os.killpg(portal.pid, 15)
            portal.wait(15)
        os.killpg(sandbox.pid, 15)
        sandbox.wait(15)
        shutil.rmtree(crm_api.WORK, ignore_errors=True)
        shutil.rmtree(sdv.WORK, ignore_errors=True)
    bulk_rate, single_rate = RECORDS / bulk_seconds, SINGLES / single_seconds
    print("## Instance API: bulk writes (crm_bulk.py)\n")
    print(f"Accounts created through the portal (gunicorn, 2 gthread workers) against the sandbox, sequential "
          f"from one client. Load average {load_before[0]:.1f} before, {load[0]:.1f} after.\n")
    print("| how | records | seconds | records/s |\n|---|---:|---:|---:|")
    print(f"| `POST accounts/bulk`, {PER_CALL:,} a call (sent as {', '.join(sent_as)}) | {RECORDS:,} | "
          f"{bulk_seconds:.1f} | {bulk_rate:,.0f} |")
    print(f"| `POST accounts`, one a call | {SINGLES:,} | {single_seconds:.1f} | {single_rate:,.0f} |")
    print(f"\nBulk is **{bulk_rate / single_rate:.1f}x** the single POSTs' rate (target: at least 10x).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
