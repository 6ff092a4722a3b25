"""Benchmark (issue 25): the dashboard beside Django admin's changelist at 100,000 instances on SQLite,
the database `make run` uses, once as a fresh database is (no planner statistics) and once after
PRAGMA optimize. The measuring is bench/dashboard_scale.py's; this only points it at SQLite files."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-sqlite-"))
    for analyze in ("0", "1"):
        env = {**os.environ, "BENCH_SCALE_DATABASE_URL": f"sqlite:///{folder / f'analyze-{analyze}.sqlite3'}",
               "BENCH_SCALE_SIZES": "10,100000", "BENCH_SCALE_ANALYZE": analyze,
               "BENCH_SCALE_TEAMS": os.environ.get("BENCH_SCALE_TEAMS", "1")}
        env.pop("BENCH_SCALE_KEEP", None)
        result = subprocess.run([sys.executable, str(HERE / "dashboard_scale.py")], env=env)
        if result.returncode:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
