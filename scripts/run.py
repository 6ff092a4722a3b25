"""`make run`: start web, Celery worker, beat and the sandbox; stop them all on Ctrl-C.

Checks first that every port it needs is free (naming the variable that moves a busy one),
then prints the URLs it really serves and, on the very first run, the first admin's credentials.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = os.environ.get("PORTAL_HOST", "127.0.0.1")
PORT = os.environ.get("PORTAL_PORT", "8000")
READY_TIMEOUT_SECONDS = 60
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Listener:
    process: str
    host: str
    port: int
    variable: str  # the environment variable that moves it


def load_settings():
    """The portal's own settings, so the sandbox ports and VAR_DIR printed are the ones it uses."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    return settings


def port_is_free(host: str, port: int) -> bool:
    # SO_REUSEADDR as the servers themselves set it: a port in TIME_WAIT counts as free.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def busy_port_messages(listeners: list[Listener]) -> list[str]:
    return [f"Port {item.port} on {item.host} is already in use, so the {item.process} cannot start. "
            f"Stop what is using it, or choose another port: {item.variable}=<port> make run"
            for item in listeners if not port_is_free(item.host, item.port)]


def wait_until_listening(listeners: list[Listener], children: dict[str, subprocess.Popen],
                         log_dir: Path) -> str | None:
    """None once every listener accepts connections; otherwise what went wrong."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = list(listeners)
    while pending:
        for name, proc in children.items():
            if proc.poll() is not None:
                return f"{name} exited with code {proc.returncode}; see {log_dir / (name + '.log')}"
        if time.monotonic() > deadline:
            return f"the {pending[0].process} is not listening on port {pending[0].port}; see {log_dir}/"
        try:
            socket.create_connection((pending[0].host.strip("[]"), pending[0].port), timeout=1).close()
            pending.pop(0)
        except OSError:
            time.sleep(0.2)
    return None


def die_with_parent(parent_pid: int):
    """A preexec_fn: the child gets SIGTERM when this process dies, even by SIGKILL (Linux);
    without it an orphaned sandbox keeps its ports after `make run` is killed."""

    def arrange() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


def spawn(cmd: list[str], log_path: Path) -> subprocess.Popen:
    """One child in its own session (Ctrl-C reaches only this script, which stops them in order)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent(os.getpid()))


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True, capture_output=True, text=True)


def sandbox_available() -> bool:
    return (ROOT / "setup_portal/sandbox/management/commands/run_sandbox.py").exists()


def configure_sandbox_sign_in() -> None:
    """"Sign in with Microsoft" through the sandbox tenant's app registration for the portal's own
    sign-in (its redirect URIs are the callback on loopback), unless MICROSOFT_LOGIN_* are given."""
    if os.environ.get("MICROSOFT_LOGIN_CLIENT_ID"):
        return
    from setup_portal.sandbox.info import sandbox_info

    info = sandbox_info()
    os.environ.update({
        "MICROSOFT_LOGIN_CLIENT_ID": info["sign_in_client_id"],
        "MICROSOFT_LOGIN_SECRET": info["sign_in_client_secret"],
        "MICROSOFT_LOGIN_TENANT": info["tenant_id"],
        "MICROSOFT_LOGIN_AUTHORITY": info["backchannel_base"],
        "MICROSOFT_LOGIN_CA_FILE": info["ca_cert_path"],
        "MICROSOFT_LOGIN_GRAPH_URL": f"{info['backchannel_base']}/graph",
    })


def main() -> int:
    if not PORT.isdigit():
        print(f"PORTAL_PORT={PORT!r} is not a port number.", file=sys.stderr)
        return 2
    settings = load_settings()
    with_sandbox = sandbox_available() and settings.SANDBOX_ENABLED
    listeners = [Listener("web server", HOST, int(PORT), "PORTAL_PORT")]
    if with_sandbox:
        listeners += [Listener("sandbox's sign-in pages", settings.SANDBOX_HOST, settings.SANDBOX_HTTP_PORT,
                               "SANDBOX_HTTP_PORT"),
                      Listener("sandbox's back channel", settings.SANDBOX_HOST, settings.SANDBOX_HTTPS_PORT,
                               "SANDBOX_HTTPS_PORT")]
    problems = busy_port_messages(listeners)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1

    portal_url = f"http://{HOST}:{PORT}"
    # Azure sends the admin back to PORTAL_BASE_URL: it must be the address served here.
    os.environ.setdefault("PORTAL_BASE_URL", portal_url)
    if with_sandbox:
        configure_sandbox_sign_in()
    bootstrap = manage("bootstrap_admin").stdout.strip()
    commands = {
        # config/gunicorn.py: the access log's format (no Basic-auth user name) and the metrics hooks.
        "web": [PY, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application",
                "--bind", f"{HOST}:{PORT}", "--workers", "2", "--worker-class", "gthread", "--threads", "8",
                "--access-logfile", "-", "--graceful-timeout", "5"],
        "worker": [PY, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=2",
                   "--without-gossip", "--without-mingle"],
        "beat": [PY, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
    }
    if with_sandbox:
        commands["sandbox"] = [PY, "manage.py", "run_sandbox"]
    log_dir = Path(settings.VAR_DIR) / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    children: dict[str, subprocess.Popen] = {}
    for name, cmd in commands.items():
        children[name] = spawn(cmd, log_dir / f"{name}.log")

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

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)

    problem = wait_until_listening(listeners, children, log_dir)
    if problem:
        print(problem)
        stop()
    print("\nDynamics CRM Setup Portal is running")
    print(f"  Portal:   {portal_url}/")
    if with_sandbox:
        # Importable once load_settings set the path up.
        from setup_portal.sandbox.info import sandbox_info, url_host

        info = sandbox_info()
        print(f"  Sandbox:  http://{url_host()}:{settings.SANDBOX_HTTP_PORT}/ (sign-in pages), "
              f"https://{url_host()}:{settings.SANDBOX_HTTPS_PORT}/ (back channel)")
        print("            details: .venv/bin/python manage.py sandbox_info --json")
    print(f"  Logs:     {log_dir}/")
    if bootstrap.startswith("First admin"):
        print("\n  " + bootstrap.replace("\n", "\n  "))
    if with_sandbox:
        # The portal's own sign-in is the admin above; Authorize then asks for the tenant's user.
        print(f"\n  Sandbox tenant (the Azure AD sign-in after Authorize): {info['username']}  "
              f"Password: {info['password']}")
    print("\nPress Ctrl-C to stop.\n", flush=True)
    while True:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; see {log_dir / (name + '.log')}")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
