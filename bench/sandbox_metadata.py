"""Sandbox metadata: how long `$metadata` and `EntityDefinitions?$expand=Attributes` take, straight
at `run_sandbox` (its own process on a private SANDBOX_DIR, TLS, an app token from msal), one
keep-alive connection, sequential requests. Prints one markdown section.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

import requests

from bench import sandbox_dataverse as floor

REQUESTS = int(os.environ.get("BENCH_METADATA_REQUESTS", "200"))
QUERIES = {
    "`$metadata` (CSDL XML)": "$metadata",
    "`EntityDefinitions?$expand=Attributes` (every table, every attribute)": "EntityDefinitions?$expand=Attributes",
    "`EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$expand=Attributes($select=LogicalName,"
    "AttributeType)` (a connector's discovery)":
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
        "&$expand=Attributes($select=LogicalName,AttributeType)",
    "`EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    "?$expand=OptionSet`":
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        "?$expand=OptionSet",
}


def measure(session: requests.Session, url: str, headers: dict) -> tuple[list[float], int]:
    first = session.get(url, headers=headers, timeout=30)
    first.raise_for_status()
    for _ in range(20):
        session.get(url, headers=headers, timeout=30)
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        session.get(url, headers=headers, timeout=30).raise_for_status()
        times.append(time.perf_counter() - started)
    return times, len(first.content)


def main() -> int:
    proc, runtime = floor.start_sandbox()
    try:
        session = requests.Session()
        session.verify = runtime["ca_cert_path"]
        session.trust_env = False
        hooks = f"{runtime['backchannel_base']}/_sandbox/dataverse/limits"
        session.post(hooks, json={"requests": 10**9, "execution_ms": 10**12, "concurrent": 10_000},
                     timeout=10).raise_for_status()
        token, api = floor.app_token(session, runtime)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        results = {name: measure(session, api + path, headers) for name, path in QUERIES.items()}
        tables = session.get(api + "EntityDefinitions?$select=LogicalName&$expand=Attributes($select=LogicalName)",
                             headers=headers, timeout=30).json()["value"]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(15)
        shutil.rmtree(floor.WORK, ignore_errors=True)
    print("## Sandbox Dataverse: metadata\n")
    attributes = sum(len(t["Attributes"]) for t in tables)
    print(f"`run_sandbox` with its seed schema ({len(tables)} tables, {attributes} attributes); an app token from "
          f"msal; {REQUESTS} sequential requests per row on one keep-alive connection after 20 warm-up requests.\n")
    print("| request | bytes | p50 | p95 |")
    print("|---|---|---|---|")
    for name, (times, size) in results.items():
        p50 = statistics.median(times) * 1000
        p95 = statistics.quantiles(times, n=20)[-1] * 1000
        print(f"| {name} | {size:,} | {p50:.1f} ms | {p95:.1f} ms |")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
