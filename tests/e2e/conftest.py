"""The real stack for browser journeys: gunicorn web, a Celery worker and the sandbox on free
loopback ports, driven by Playwright through Debian's Chromium (no browser download)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, WorkerProcess, private_broker_env, subprocess_env
from tests.e2e import accessibility

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    base_url: str
    web: subprocess.Popen
    worker: WorkerProcess
    log_dir: Path

    def manage(self, *args: str) -> str:
        """Run a management command against the stack's database; returns its output."""
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=subprocess_env(),
                                capture_output=True, text=True, timeout=60, check=True)
        return result.stdout


def wait_until_serving(url: str, log: Path, seconds: float = 30) -> None:
    """Wait for a web process to answer `url` with 200; on timeout, fail with the end of its log."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # a loaded machine answers the first request slowly
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(0.2)


# Package scope: the stack's worker is gone before the other packages' tests start their own.
@pytest.fixture(scope="package")
def stack(sandbox, django_db_setup, django_db_blocker, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package (scripts/system_deps.sh).")
    log_dir = tmp_path_factory.mktemp("stack")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    broker = private_broker_env(log_dir / "broker")
    env = subprocess_env(PORTAL_BASE_URL=base_url, **broker)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True, timeout=120)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "--access-logfile", str(log_dir / "access.log")],
        cwd=ROOT, env=env, stdout=open(log_dir / "web.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(log_dir / "worker.log", concurrency=2, env=broker)
    worker.start()
    wait_until_serving(f"{base_url}/healthz", log_dir / "web.log")
    yield Stack(base_url=base_url, web=web, worker=worker, log_dir=log_dir)
    worker.stop()
    os.killpg(web.pid, 15)
    web.wait(10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
DOCS_MAX_HEIGHT = 1400  # README pictures: the top of a long page is enough


class Shots:
    """Saves named screenshots of a journey under test-artifacts/screenshots/<journey>/.

    `docs="name"` marks a screenshot the README shows: with E2E_DOCS_SCREENSHOTS=1 in the
    environment it is also written to docs/screenshots/<name>.png (never by default, so a
    test run leaves the tracked pictures alone).
    """

    def __init__(self, page, journey: str):
        self.page = page
        self.folder = ARTIFACTS / journey
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, name: str, full_page: bool = True, docs: str | None = None) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if docs and os.environ.get("E2E_DOCS_SCREENSHOTS") == "1":
            height = self.page.evaluate("document.documentElement.scrollHeight")
            width = self.page.viewport_size["width"]
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(DOCS_SCREENSHOTS / f"{docs}.png"), full_page=True,
                                 clip={"x": 0, "y": 0, "width": width, "height": min(height, DOCS_MAX_HEIGHT)})
        return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep the call phase's report on the item: the page fixture checks accessibility only after a pass."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


@pytest.fixture
def page(stack, browser, transactional_db, request):
    context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15000)
    axe_reports = accessibility.watch(context)
    page = context.new_page()
    page.shots = Shots(page, re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-"))
    page.axe = axe_reports
    accessibility.wait_before_goto(page)
    yield page
    try:
        if getattr(request.node, "rep_call", None) and request.node.rep_call.passed:
            accessibility.finish(page, axe_reports)
    finally:
        context.close()


def login(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")
