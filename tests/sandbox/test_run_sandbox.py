"""`manage.py run_sandbox` stops promptly on SIGTERM and SIGINT and gives its ports back, also
while clients hold connections open (their threads may receive the signal)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT

STOP_DEADLINE_SECONDS = 15


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start(sandbox_dir) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, SANDBOX_ENABLED="1", SANDBOX_DIR=str(sandbox_dir), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "run_sandbox", "--http-port", "0", "--https-port", "0",
                             "--quiet"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            runtime = json.loads((sandbox_dir / "runtime.json").read_text())
            if runtime.get("pid") == proc.pid:
                return proc, runtime
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the sandbox did not start")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_it_exits_promptly_on_a_signal_and_frees_its_ports(tmp_path, signum):
    proc, runtime = _start(tmp_path)
    sessions = []
    try:
        for _ in range(4):  # open keep-alive connections: each is served by a thread of its own
            session = requests.Session()
            session.verify, session.trust_env = runtime["ca_cert_path"], False
            assert session.get(f"{runtime['backchannel_base']}/_sandbox/health", timeout=30).status_code == 200
            sessions.append(session)
        proc.send_signal(signum)
        started = time.monotonic()
        proc.wait(STOP_DEADLINE_SECONDS)
        elapsed = time.monotonic() - started
    finally:
        for session in sessions:
            session.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, f"exit code {proc.returncode} after {elapsed:.1f} s"
    assert _port_is_free(runtime["http_port"]) and _port_is_free(runtime["https_port"])
    assert not (tmp_path / "runtime.json").exists()
