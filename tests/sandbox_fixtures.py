"""pytest plugin: one real sandbox tenant process (`manage.py run_sandbox`) per test session.

Fixtures:
- `sandbox` (session): starts the sandbox on free ports, points this process's settings
  and os.environ (inherited by workers / web servers started later) at it, and yields a
  `SandboxHandle` with `.info` (= sandbox_info()), `.faults(**spec)`, `.clear_faults()`,
  `.reset()`, `.expire_refresh_tokens()`, `.add_secret()`, `.expire_secret()`,
  `.session()` (a requests.Session trusting the sandbox CA), `.confidential_client()` /
  `.public_client()` (real msal apps wired to it), and `.browser_sign_in()` / `.browser_answer()`
  (submit the sign-in and consent pages like a browser; return where the sandbox sends it back).
- `clean_sandbox` (function): removes injected faults before and after the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import msal
import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
HTTP_TIMEOUT = 10


class TimeoutSession(requests.Session):
    """A session with a default timeout: msal sets none on a custom http_client."""

    def __init__(self, timeout: float = HTTP_TIMEOUT):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


class _Forms(HTMLParser):
    """Collect <form> actions and their named inputs/buttons from a sandbox page."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "buttons": {}})
        elif self.forms and tag == "input" and a.get("name") and a.get("type") != "checkbox":
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"][a.get("value", "")] = a["name"]


class SandboxError(AssertionError):
    pass


class SandboxHandle:
    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc = proc
        self.log_path = log_path
        from setup_portal.sandbox.info import sandbox_info

        self.info: dict = sandbox_info()

    # -- plumbing -------------------------------------------------------------------
    def session(self, timeout: float = HTTP_TIMEOUT) -> requests.Session:
        """requests.Session that trusts the sandbox CA. trust_env=False because a globally set
        REQUESTS_CA_BUNDLE would otherwise override `verify`."""
        s = TimeoutSession(timeout)
        s.verify = self.info["ca_cert_path"]
        s.trust_env = False
        return s

    def admin(self, method: str, path: str, payload: dict | None = None) -> dict:
        resp = self.session().request(method, f"{self.info['backchannel_base']}/_sandbox/{path}", json=payload)
        if resp.status_code >= 400:
            raise SandboxError(f"{method} /_sandbox/{path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def faults(self, **spec) -> dict:
        """e.g. faults(endpoint="token", status=503, retry_after=2, times=1)."""
        return self.admin("POST", "faults", spec)

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def reset(self) -> None:
        """Clear faults, codes, refresh tokens, runtime consents; re-read the seed."""
        self.admin("POST", "reset")

    def expire_refresh_tokens(self, client_id: str = "", upn: str = "") -> int:
        return self.admin("POST", "expire-refresh-tokens", {"client_id": client_id, "upn": upn})["expired"]

    def add_secret(self, client_id: str | None = None, days: int = 180) -> dict:
        return self.admin("POST", f"apps/{client_id or self.info['client_id']}/secrets", {"days": days})

    def expire_secret(self, client_id: str | None = None, secret_id: str | None = None) -> dict:
        client_id = client_id or self.info["client_id"]
        return self.admin("POST", f"apps/{client_id}/secrets/{secret_id or self.info['client_secret_id']}/expire")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # -- msal -------------------------------------------------------------------------
    def confidential_client(self, client_id: str | None = None, client_credential: str | None = None,
                            authority: str | None = None, **kwargs) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            client_id or self.info["client_id"],
            client_credential=client_credential if client_credential is not None else self.info["client_secret"],
            authority=authority or self.info["authority"], instance_discovery=False,
            http_client=self.session(), **kwargs)

    def public_client(self, client_id: str | None = None, authority: str | None = None,
                      **kwargs) -> msal.PublicClientApplication:
        _skip_user_realm_discovery(authority or self.info["authority"])
        return msal.PublicClientApplication(client_id or self.info["public_client_id"],
                                            authority=authority or self.info["authority"],
                                            instance_discovery=False, http_client=self.session(), **kwargs)

    # -- the browser part of the auth-code flow ------------------------------------------------
    def browser_sign_in(self, auth_url: str, username: str | None = None, password: str | None = None,
                        consent: str = "accept") -> str:
        """Open `auth_url`, submit sign-in (and consent when asked) as a browser would.

        Returns the URL the sandbox finally redirects to (the app's redirect URI with
        code/state or error). `consent` is "accept" or "cancel". For response_mode=form_post
        use `browser_answer`.
        """
        resp = self._sign_in(auth_url, username, password, consent)
        if not resp.is_redirect:
            raise SandboxError(f"expected a redirect back to the app, got {resp.status_code}: {resp.text[:500]}")
        return resp.headers["Location"]

    def browser_answer(self, auth_url: str, username: str | None = None, password: str | None = None,
                       consent: str = "accept") -> tuple[str, dict]:
        """Like `browser_sign_in`, for any response mode: (the redirect URI, the answer's parameters),
        whether the sandbox redirected with a query string or handed the browser a form_post page."""
        resp = self._sign_in(auth_url, username, password, consent)
        if resp.is_redirect:
            parts = urlsplit(resp.headers["Location"])
            return parts._replace(query="").geturl(), dict(parse_qsl(parts.query))
        form = self._form(resp)
        return form["action"], form["fields"]

    def _sign_in(self, auth_url: str, username: str | None, password: str | None, consent: str):
        browser = self.session()
        resp = browser.get(auth_url, allow_redirects=False)
        if resp.is_redirect or _is_form_post(resp):
            return resp
        form = self._form(resp)
        fields = dict(form["fields"], username=username or self.info["username"],
                      password=password if password is not None else self.info["password"])
        resp = browser.post(urljoin(resp.url, form["action"]), data=fields, allow_redirects=False)
        if resp.is_redirect or _is_form_post(resp):
            return resp
        form = self._form(resp)
        if "Sign in" in resp.text and "password" in form["fields"]:
            raise SandboxError("sign-in was refused: " + resp.text[resp.text.find('role="alert"'):][:300])
        action = consent if consent in form["buttons"] else next(iter(form["buttons"]))
        return browser.post(urljoin(resp.url, form["action"]),
                            data=dict(form["fields"], **{form["buttons"][action]: action}), allow_redirects=False)

    @staticmethod
    def _form(resp: requests.Response) -> dict:
        parser = _Forms()
        parser.feed(resp.text)
        if resp.status_code != 200 or not parser.forms:
            raise SandboxError(f"expected a sandbox form page, got {resp.status_code}: {resp.text[:500]}")
        return parser.forms[0]


def _is_form_post(resp: requests.Response) -> bool:
    """The sandbox's response_mode=form_post page (the browser posts it back to the app)."""
    return resp.status_code == 200 and 'id="form-post"' in resp.text


def _skip_user_realm_discovery(authority: str) -> None:
    """msal asks https://<host>/common/userrealm/ — without the port — before a password grant;
    for a local authority that request would hit port 443. The sandbox's accounts are all
    cloud-only ("Managed"), so telling msal to skip the lookup for this host is faithful."""
    host = urlsplit(authority).hostname
    msal.authority.Authority._domains_without_user_realm_discovery.add(host)


def _start_sandbox(log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, SANDBOX_ENABLED="1", PYTHONUNBUFFERED="1")
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--http-port", "0", "--https-port", "0", "--quiet"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait_for_runtime(proc: subprocess.Popen, log_path: Path) -> dict:
    from setup_portal.sandbox.info import runtime_path

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Sandbox exited early:\n{log_path.read_text()[-3000:]}")
        try:
            runtime = json.loads(runtime_path().read_text())
            if runtime.get("pid") == proc.pid:
                return runtime
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"Sandbox did not start:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The sandbox tenant, running as a child process for the whole session."""
    log_path = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    proc = _start_sandbox(log_path)
    try:
        runtime = _wait_for_runtime(proc, log_path)
        # Child processes started later (web, worker) find the sandbox through these.
        os.environ["SANDBOX_HTTP_PORT"] = str(runtime["http_port"])
        os.environ["SANDBOX_HTTPS_PORT"] = str(runtime["https_port"])
        settings.SANDBOX_HTTP_PORT = runtime["http_port"]
        settings.SANDBOX_HTTPS_PORT = runtime["https_port"]
        yield SandboxHandle(proc, log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(5)


@pytest.fixture
def clean_sandbox(sandbox):
    """The sandbox with no injected faults before and after the test."""
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def sbx(clean_sandbox):
    """The sandbox with a clean slate (no faults, codes, refresh tokens, runtime consents)."""
    clean_sandbox.reset()
    return clean_sandbox
