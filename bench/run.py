"""`make bench`: run every benchmark and write bench/RESULTS.md.

Each benchmark is a script in bench/ that prints one markdown section on stdout; this
runner adds the machine (CPU, cores, date) and the targets the issues set.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ["provisioning.py", "dashboard.py", "dashboard_scale.py", "dashboard_sqlite.py", "wizard.py",
           "live_progress.py", "sandbox_dataverse.py", "sandbox_bulk.py", "sandbox_metadata.py", "crm_api.py",
           "crm_bulk.py",
           "events.py", "realtime.py", "api_provisioning.py", "cluster.py"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(selected: list[str]) -> int:
    sections, failures = [], []
    for name in selected or BENCHES:
        script = ROOT / "bench" / name
        if not script.exists():
            failures.append(f"{name}: missing")
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        sys.stderr.write(result.stderr[-4000:])
        if result.returncode != 0:
            failures.append(f"{name}: exit {result.returncode}")
            sections.append(f"## {name}\n\nFailed (exit {result.returncode}); see the console output.\n")
            continue
        sections.append(result.stdout.strip() + f"\n\n_Run took {time.monotonic() - started:.0f} s._\n")
        print(result.stdout, flush=True)
    header = (
        "# Benchmark results\n\n"
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores\n"
        f"- Python {platform.python_version()}, {platform.system()} {platform.release()}\n"
        "- Produced by `make bench` (`bench/run.py`); not run by CI.\n"
    )
    (ROOT / "bench" / "RESULTS.md").write_text(header + "\n" + "\n".join(sections))
    print(f"Wrote {ROOT / 'bench' / 'RESULTS.md'}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
