"""Sandbox Dataverse writes in bulk: 1,000 accounts as 1,000 single `POST accounts`, as one
`CreateMultiple`, and as one `$batch` change set of 1,000 POSTs — records per second each.

Straight at `run_sandbox` (its own process on a private SANDBOX_DIR, TLS, an app token from
msal), one keep-alive connection, limits raised through the hook. Each way runs ROUNDS times on
fresh names; the median round is reported. Prints one markdown section.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
import uuid

import requests

from bench import sandbox_dataverse as floor

RECORDS = int(os.environ.get("BENCH_BULK_RECORDS", "1000"))
ROUNDS = int(os.environ.get("BENCH_BULK_ROUNDS", "3"))


def record(tag: str, i: int) -> dict:
    return {"name": f"Bulk {tag} {i:04d}", "telephone1": "555-0100", "revenue": 1000.0 + i}


def single_posts(session: requests.Session, api: str, headers: dict) -> float:
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    for i in range(RECORDS):
        session.post(api + "accounts", json=record(tag, i), headers=headers, timeout=30).raise_for_status()
    return time.perf_counter() - started


def create_multiple(session: requests.Session, api: str, headers: dict) -> float:
    tag = uuid.uuid4().hex[:8]
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.account", **record(tag, i)} for i in range(RECORDS)]
    started = time.perf_counter()
    resp = session.post(api + "accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets},
                        headers=headers, timeout=300)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200 and len(resp.json()["Ids"]) == RECORDS, resp.text[:300]
    return elapsed


def batch_change_set(session: requests.Session, api: str, headers: dict) -> float:
    tag = uuid.uuid4().hex[:8]
    parts = "".join(
        "--changeset_bench\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: {i + 1}\r\n\r\nPOST accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        f"{json.dumps(record(tag, i))}\r\n" for i in range(RECORDS))
    body = (f"--batch_bench\r\nContent-Type: multipart/mixed; boundary=changeset_bench\r\n\r\n{parts}"
            "--changeset_bench--\r\n--batch_bench--\r\n").encode()
    started = time.perf_counter()
    resp = session.post(api + "$batch", data=body, timeout=300,
                        headers={**headers, "Content-Type": "multipart/mixed; boundary=batch_bench"})
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200 and resp.content.count(b"HTTP/1.1 204") == RECORDS, resp.text[:300]
    return elapsed


def main() -> int:
    proc, runtime = floor.start_sandbox()
    results: dict[str, list[float]] = {}
    try:
        session = requests.Session()
        session.verify = runtime["ca_cert_path"]
        session.trust_env = False
        session.post(f"{runtime['backchannel_base']}/_sandbox/dataverse/limits",
                     json={"requests": 10**9, "execution_ms": 10**12, "concurrent": 10_000}, timeout=10
                     ).raise_for_status()
        token, api = floor.app_token(session, runtime)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        session.get(api + "WhoAmI", headers=headers, timeout=10).raise_for_status()
        ways = {f"{RECORDS:,} single `POST accounts`, one after another": single_posts,
                f"one `CreateMultiple` with {RECORDS:,} `Targets`": create_multiple,
                f"one `$batch` change set of {RECORDS:,} `POST accounts`": batch_change_set}
        for _ in range(ROUNDS):
            for name, way in ways.items():
                results.setdefault(name, []).append(way(session, api, headers))
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(15)
        shutil.rmtree(floor.WORK, ignore_errors=True)
    print("## Sandbox Dataverse: bulk writes (issue 21)\n")
    print(f"{RECORDS:,} new accounts (name, telephone1, revenue) straight at `run_sandbox` (TLS on loopback, an app "
          f"token from msal, limits raised), one keep-alive connection; {ROUNDS} rounds, median shown.\n")
    print("| way | median time | records/s | rounds (s) |")
    print("|---|---|---|---|")
    medians = {}
    for name, times in results.items():
        medians[name] = statistics.median(times)
        print(f"| {name} | {medians[name]:.2f} s | **{RECORDS / medians[name]:,.0f}** | "
              f"{', '.join(f'{t:.2f}' for t in times)} |")
    single, bulk = list(medians.values())[:2]
    print(f"\n`CreateMultiple` writes the same records **{single / bulk:.1f}x** as fast as single POSTs: one "
          f"request, one token check and one transaction instead of {RECORDS:,} of each. Each record still goes "
          "through the same checks (types, lengths, choices) and gets its own row version.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
