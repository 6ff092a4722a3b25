"""Child processes the benchmarks start (the sandbox, workers, web servers), logging under their work folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spawn(work: Path, args: list[str], log: str, ready: Callable[[], bool], what: str,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """A child process of the portal's, logging to work/<log>; returns once `ready()` is true."""
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=open(work / log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start:\n{(work / log).read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def start_sandbox(work: Path) -> subprocess.Popen:
    """The sandbox on free ports (its folder is work/sandbox: VAR_DIR is `work`); its ports go into the environment."""
    runtime = work / "sandbox" / "runtime.json"

    def ready() -> bool:
        try:
            data = json.loads(runtime.read_text())
        except (OSError, ValueError):
            return False
        os.environ["SANDBOX_HTTP_PORT"], os.environ["SANDBOX_HTTPS_PORT"] = (str(data["http_port"]),
                                                                             str(data["https_port"]))
        return True

    return spawn(work, ["manage.py", "run_sandbox", "--http-port", "0", "--https-port", "0", "--quiet"], "sandbox.log",
                 ready, "the sandbox")
