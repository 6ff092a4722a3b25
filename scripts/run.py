"""`make run`: start web, Celery worker, beat and the sandbox; stop them all on Ctrl-C.

Prints the URLs and, on the very first run, the first admin's credentials.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = os.environ.get("PORTAL_HOST", "127.0.0.1")
PORT = os.environ.get("PORTAL_PORT", "8000")


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True, capture_output=True, text=True)


def sandbox_available() -> bool:
    return (ROOT / "setup_portal/sandbox/management/commands/run_sandbox.py").exists()


def main() -> int:
    bootstrap = manage("bootstrap_admin").stdout.strip()
    commands = {
        "web": [PY, "-m", "gunicorn", "config.wsgi:application", "--bind", f"{HOST}:{PORT}",
                "--workers", "2", "--access-logfile", "-", "--graceful-timeout", "5"],
        "worker": [PY, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=2",
                   "--without-gossip", "--without-mingle"],
        "beat": [PY, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
    }
    if sandbox_available():
        commands["sandbox"] = [PY, "manage.py", "run_sandbox"]
    log_dir = ROOT / "var" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    children: dict[str, subprocess.Popen] = {}
    for name, cmd in commands.items():
        log = open(log_dir / f"{name}.log", "ab")
        children[name] = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    def stop(*_args) -> None:
        # SIGTERM to each main process only: gunicorn and Celery shut their own children down.
        for proc in children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        print("\nStopped web, worker, beat" + (" and sandbox." if "sandbox" in children else "."))
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    time.sleep(2)
    print("\nDynamics CRM Setup Portal is running")
    print(f"  Portal:   http://{HOST}:{PORT}/")
    if "sandbox" in children:
        print("  Sandbox:  http://127.0.0.1:8001/ (sign-in pages), https://127.0.0.1:8443/ (back channel)")
        print("            details: .venv/bin/python manage.py sandbox_info --json")
    print(f"  Logs:     {log_dir}/")
    if bootstrap.startswith("First admin"):
        print("\n  " + bootstrap.replace("\n", "\n  "))
    print("\nPress Ctrl-C to stop.\n")
    while True:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; see {log_dir / (name + '.log')}")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
