"""Where the sandbox runs and what to sign in with — for the wizard's "Use the sandbox
tenant" button, `manage.py sandbox_info`, and tests.

The running sandbox writes its real ports to <SANDBOX_DIR>/runtime.json; other processes
read that file (when the process that wrote it is still alive) and otherwise fall back
to settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings

from . import directory as directory_mod

RUNTIME_FILE = "runtime.json"


def runtime_path() -> Path:
    return Path(settings.SANDBOX_DIR) / RUNTIME_FILE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_runtime() -> dict | None:
    """runtime.json of a sandbox that is still running, else None."""
    try:
        data = json.loads(runtime_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not _pid_alive(int(data.get("pid", 0))):
        return None
    return data


def url_host() -> str:
    """Host for URLs: a wildcard bind address is reached through loopback."""
    host = settings.SANDBOX_HOST
    return "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host


_local_bases: tuple[str, str] | None = None


def set_local_bases(browser_base: str, backchannel_base: str) -> None:
    """Called by the sandbox process itself once its listeners are bound."""
    global _local_bases
    _local_bases = (browser_base, backchannel_base)


def bases() -> tuple[str, str]:
    """(browser_base, backchannel_base) without trailing slashes."""
    if _local_bases:
        return _local_bases
    runtime = read_runtime()
    if runtime:
        return runtime["browser_base"], runtime["backchannel_base"]
    return (f"http://{url_host()}:{settings.SANDBOX_HTTP_PORT}",
            f"https://{url_host()}:{settings.SANDBOX_HTTPS_PORT}")


def sandbox_info() -> dict:
    """Everything a client needs to use the sandbox tenant (see the module docstring)."""
    browser, backchannel = bases()
    directory = directory_mod.load(settings.SANDBOX_SEED_FILE)
    tenant = directory.tenant
    default_app = directory.app_by_role("default")
    no_user_app = directory.app_by_role("no_app_user")
    public_app = directory.app_by_role("public_client")
    sign_in_app = directory.app_by_role("portal_sign_in")
    current = default_app.current_secret()
    expired = default_app.expired_secret()
    users = list(directory.users.values())
    sign_in = next(u for u in users if u.is_admin and not u.mfa_required)
    mfa = next(u for u in users if u.mfa_required)
    env = directory.default_environment()
    dynamics_url = env.url(backchannel)
    authority = f"{backchannel}/{tenant.id}"
    return {
        "tenant_id": tenant.id,
        "tenant_domain": tenant.domain,
        "tenant_name": tenant.name,
        "authority": authority,
        "browser_base": browser,
        "backchannel_base": backchannel,
        "client_id": default_app.client_id,
        "client_secret": current.value if current else "",
        "client_secret_id": current.id if current else "",
        "client_secret_expires": current.expires.isoformat() if current else "",
        "expired_client_secret": expired.value if expired else "",
        "s2s_client_id": default_app.client_id,
        "s2s_client_secret": current.value if current else "",
        "no_app_user_client_id": no_user_app.client_id,
        "no_app_user_client_secret": (no_user_app.current_secret() or no_user_app.secrets[0]).value,
        "public_client_id": public_app.client_id,
        # The app registration for the portal's own "Sign in with Microsoft".
        "sign_in_client_id": sign_in_app.client_id,
        "sign_in_client_secret": sign_in_app.secrets[0].value,
        "username": sign_in.upn,
        "password": sign_in.password,
        "mfa_username": mfa.upn,
        "mfa_password": mfa.password,
        "dynamics_url": dynamics_url,
        "region": env.region,
        "organization_name": env.friendly_name,
        "ca_cert_path": str(Path(settings.SANDBOX_DIR) / "ca.pem"),
        "redirect_uri_hint": f"{settings.PORTAL_BASE_URL}/azure/callback/",
        "endpoints": {
            "openid_configuration": f"{authority}/v2.0/.well-known/openid-configuration",
            "authorize": f"{browser}/{tenant.id}/oauth2/v2.0/authorize",
            "token": f"{backchannel}/{tenant.id}/oauth2/v2.0/token",
            "jwks": f"{backchannel}/{tenant.id}/discovery/v2.0/keys",
            "adminconsent": f"{browser}/{tenant.id}/v2.0/adminconsent",
            "logout": f"{browser}/{tenant.id}/oauth2/v2.0/logout",
            "webapi": f"{dynamics_url}/api/data/v9.2/",
        },
    }
