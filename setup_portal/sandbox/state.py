"""What the running sandbox remembers: issued codes, refresh tokens, consents granted at
runtime, sign-in flows in progress, injected faults, service-protection counters — and
each environment's Dataverse rows.

The identity side is kept in the sandbox process's memory on purpose — it is a test
double; a restart or POST /_sandbox/reset gives a clean tenant again. One lock guards it
all: every operation is a few dict lookups, so contention does not matter. Dataverse rows
live in a small SQLite file per environment (data/store.py): they survive a restart and
go back to the seed on reset.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import directory as directory_mod
from .data.limits import Limiter, Limits
from .data.service import EnvironmentData
from .pki import Material
from .plugin_dispatch import DISPATCHER
from .webhooks import Bins

CODE_LIFETIME = 10 * 60
REFRESH_LIFETIME = 90 * 24 * 3600
FLOW_LIFETIME = 30 * 60
FAULT_ENDPOINTS = frozenset({"token", "webapi", "whoami", "authorize", "discovery", "keys", "*"})


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    tenant_id: str
    upn: str
    resource: str
    environment: str
    permissions: list[str]
    oidc: list[str]
    nonce: str
    code_challenge: str
    created: float = field(default_factory=time.time)
    redeemed: bool = False


@dataclass
class RefreshToken:
    client_id: str
    tenant_id: str
    upn: str
    oidc: list[str]
    issued: float = field(default_factory=time.time)
    expires: float = field(default_factory=lambda: time.time() + REFRESH_LIFETIME)


@dataclass
class Flow:
    """An authorize request between the sign-in page and the redirect back to the app."""

    params: dict[str, str]
    tenant_segment: str
    client_id: str
    redirect_uri: str
    resource: str
    environment: str
    permissions: list[str]
    oidc: list[str]
    kind: str = "authorize"  # or "adminconsent"
    upn: str = ""
    created: float = field(default_factory=time.time)


@dataclass
class Fault:
    endpoint: str
    status: int | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    reset_connection: bool = False
    times: int | None = None

    @classmethod
    def from_spec(cls, spec: dict) -> Fault:
        """Validate a fault description from the admin endpoint or SANDBOX_FAULTS."""
        endpoint = spec.get("endpoint", "*")
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(FAULT_ENDPOINTS)}")
        status = spec.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status such as 500, 503 or 429")
        times = spec.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer")
        latency = spec.get("latency_ms", 0)
        retry_after = spec.get("retry_after")
        if not isinstance(latency, int) or latency < 0 or latency > 120_000:
            raise ValueError("latency_ms must be an integer between 0 and 120000")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer (seconds)")
        reset = bool(spec.get("reset_connection", False))
        if status is None and not reset and not latency:
            raise ValueError("a fault needs status, latency_ms or reset_connection")
        return cls(endpoint, status, retry_after, latency, reset, times)

    def as_dict(self) -> dict:
        return {"endpoint": self.endpoint, "status": self.status, "retry_after": self.retry_after,
                "latency_ms": self.latency_ms, "reset_connection": self.reset_connection, "times": self.times}


class Store:
    def __init__(self, seed_file: Path, material: Material, data_dir: Path | None = None,
                 limits: Limits | None = None):
        self.seed_file = seed_file
        self.material = material
        self.lock = threading.Lock()
        self.directory = directory_mod.load(seed_file)
        self.limiter = Limiter(limits or Limits())
        self.data: dict[str, EnvironmentData] = {}
        if data_dir is not None:
            self.data = {name: EnvironmentData(env, self.directory, data_dir)
                         for name, env in self.directory.environments.items()}
            for environment in self.data.values():
                environment.store.listeners.append(DISPATCHER.listener(environment))
        self.codes: dict[str, Code] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.flows: dict[str, Flow] = {}
        self.consents: list[dict] = []
        self.faults: list[Fault] = []
        self.webhooks = Bins()

    def reset(self) -> None:
        """Forget everything issued at runtime and re-read the seed (undoes aged secrets);
        Dataverse rows back to their seed, service-protection limits back to the settings."""
        fresh = directory_mod.load(self.seed_file)
        with self.lock:
            self.directory = fresh
            self.codes.clear()
            self.refresh_tokens.clear()
            self.flows.clear()
            self.consents.clear()
            self.faults.clear()
        self.limiter.restore()
        self.webhooks.reset()
        DISPATCHER.reset()
        for environment in self.data.values():
            environment.store.reset()
            environment.plugins.reset()

    # Authorization codes: single use, ten minutes. Redeemed codes are kept until they
    # expire so a replay is told "already redeemed" (AADSTS54005) rather than "unknown".
    def add_code(self, code: Code) -> str:
        value = "sbx." + secrets.token_urlsafe(48)
        with self.lock:
            now = time.time()
            for key in [k for k, c in self.codes.items() if now - c.created > CODE_LIFETIME * 2]:
                del self.codes[key]
            self.codes[value] = code
        return value

    def get_code(self, value: str) -> Code | None:
        with self.lock:
            return self.codes.get(value)

    def redeem_code(self, value: str) -> bool:
        """Mark a code used; False if someone else redeemed it first."""
        with self.lock:
            code = self.codes.get(value)
            if code is None or code.redeemed:
                return False
            code.redeemed = True
            return True

    def add_refresh_token(self, token: RefreshToken) -> str:
        value = "sbx.rt." + secrets.token_urlsafe(64)
        with self.lock:
            self.refresh_tokens[value] = token
        return value

    def get_refresh_token(self, value: str) -> RefreshToken | None:
        with self.lock:
            return self.refresh_tokens.get(value)

    def expire_refresh_tokens(self, client_id: str = "", upn: str = "") -> int:
        with self.lock:
            hit = [t for t in self.refresh_tokens.values()
                   if (not client_id or t.client_id.lower() == client_id.lower())
                   and (not upn or t.upn.lower() == upn.lower())]
            for token in hit:
                token.expires = time.time() - 1
        return len(hit)

    def add_flow(self, flow: Flow) -> str:
        flow_id = secrets.token_urlsafe(24)
        with self.lock:
            now = time.time()
            for key in [k for k, f in self.flows.items() if now - f.created > FLOW_LIFETIME]:
                del self.flows[key]
            self.flows[flow_id] = flow
        return flow_id

    def get_flow(self, flow_id: str) -> Flow | None:
        with self.lock:
            flow = self.flows.get(flow_id)
        if flow and time.time() - flow.created > FLOW_LIFETIME:
            return None
        return flow

    def end_flow(self, flow_id: str) -> None:
        with self.lock:
            self.flows.pop(flow_id, None)

    def grant_consent(self, client_id: str, principal: str, resource: str, scopes: list[str]) -> None:
        with self.lock:
            self.consents.append({"client_id": client_id, "principal": principal, "resource": resource,
                                  "scopes": list(scopes)})

    def consented(self, client_id: str, upn: str, resource: str, scopes: list[str]) -> bool:
        """True when seed or runtime grants cover every scope, for this user or all users."""
        with self.lock:
            grants = [*self.directory.grants, *self.consents]
        covered: set[str] = set()
        for grant in grants:
            if grant["client_id"].lower() != client_id.lower() or grant["resource"] != resource:
                continue
            if grant["principal"] == "AllPrincipals" or grant["principal"].lower() == upn.lower():
                covered.update(grant["scopes"])
        return set(scopes) <= covered

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, endpoints: set[str]) -> Fault | None:
        """The first fault aimed at this request, counting down its `times`."""
        if not self.faults:
            return None
        with self.lock:
            for fault in self.faults:
                if fault.endpoint in endpoints:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None


_store: Store | None = None


def install(store: Store) -> None:
    global _store
    _store = store


def store() -> Store:
    if _store is None:
        raise RuntimeError("The sandbox store is not installed; start the sandbox with `manage.py run_sandbox`.")
    return _store
