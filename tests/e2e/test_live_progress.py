"""Live provisioning progress in a real browser: steps appear as the worker finishes them, over one
server-sent-events stream per bounded wait (no request loop), and the page still works without JavaScript."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from setup_portal.instances.models import Instance, JobStep, ProvisioningJob
from setup_portal.instances.progress_views import WAIT_SECONDS
from setup_portal.instances.provisioning import STEP_KEYS
from tests.conftest import PASSWORD
from tests.e2e import flows
from tests.e2e.conftest import Shots, login

# Every change of the live panel, as the person would read it: "3 of 6 steps" and the badge; and
# every step seen running.
WATCH_PANEL = """
document.addEventListener("DOMContentLoaded", function () {
  window.__panels = [];
  window.__running = [];
  function note() {
    const panel = document.getElementById("progress-live");
    if (!panel) return;
    const count = panel.querySelector(".progress-head .muted");
    const badge = panel.querySelector(".progress-head .badge");
    const entry = (count ? count.textContent.trim().split(" ·")[0] : "") + " | " + (badge ? badge.textContent : "");
    if (window.__panels[window.__panels.length - 1] !== entry) window.__panels.push(entry);
    panel.querySelectorAll(".step-running .step-title strong").forEach(function (step) {
      if (!window.__running.includes(step.textContent)) window.__running.push(step.textContent);
    });
  }
  note();
  new MutationObserver(note).observe(document.body, { childList: true, subtree: true });
});
"""


class Traffic:
    """Requests and main-frame loads a page makes, with the time each started."""

    def __init__(self, page):
        self.requests: list[tuple[float, str]] = []
        self.loads: list[str] = []
        page.on("request", lambda request: self.requests.append((time.monotonic(), request.url)))
        page.on("framenavigated", lambda frame: frame == page.main_frame and self.loads.append(frame.url))

    def streams(self, since: float = 0) -> list[float]:
        return [t for t, url in self.requests if "/progress/stream/" in url and t >= since]


def _stuck_instance(username: str, name: str) -> Instance:
    """An instance whose job a worker elsewhere holds (a long lease): nothing moves until the test says so."""
    owner = get_user_model().objects.get(username=username)
    instance = Instance.objects.create(name=name, owner=owner, dynamics_url="https://contoso.crm.dynamics.com",
                                       tenant="contoso.onmicrosoft.com", auth_type="oauth2")
    now = timezone.now()
    job = ProvisioningJob.objects.create(instance=instance, status="running", started_at=now,
                                         lease_owner="elsewhere", lease_expires_at=now + timedelta(hours=1))
    for i, key in enumerate(STEP_KEYS):
        JobStep.objects.create(job=job, key=key, position=i, status="running" if i == 0 else "pending",
                               started_at=now if i == 0 else None, attempts=1 if i == 0 else 0)
    return instance


def _finish_step(instance: Instance, key: str, detail: str) -> None:
    JobStep.objects.filter(job__instance=instance, key=key).update(status="succeeded", finished_at=timezone.now(),
                                                                  detail=detail)


def _finish_job(instance: Instance) -> None:
    now = timezone.now()
    JobStep.objects.filter(job__instance=instance).update(status="succeeded", finished_at=now)
    ProvisioningJob.objects.filter(instance=instance).update(status="succeeded", finished_at=now, lease_owner="")
    Instance.objects.filter(pk=instance.pk).update(status="ready", ready_at=now)


def test_it_shows_each_step_as_the_worker_finishes_it(page, stack, sandbox):
    sandbox.reset()
    flows.sign_in_as(page, stack, "alice", "admin")
    flows.sandbox_shortcut(page)
    flows.save(page)
    flows.authorize_oauth(page, sandbox.info)
    flows.expect_stage(page, 8, "Create instance")
    # Slow Dataverse answers (0.7 s each for steps 2-5), so each step is on screen on its own.
    sandbox.faults(endpoint="whoami", latency_ms=700, times=1)
    sandbox.faults(endpoint="webapi", latency_ms=700, times=3)
    page.add_init_script(WATCH_PANEL)
    traffic = Traffic(page)
    # The worker waits until the page's stream is open: on a busy machine the first steps could
    # otherwise be over before the page has loaded.
    created = time.monotonic()
    stack.worker.pause()
    try:
        with page.expect_request(lambda request: "/progress/stream/" in request.url):
            flows.create_instance(page, "Live Contoso")
    finally:
        stack.worker.resume()
    arrived = time.monotonic()
    loads_on_arrival = len(traffic.loads)

    steps = page.locator(".step-list li")
    expect(steps.filter(has_text="Identify the signed-in user (WhoAmI)")).to_have_class("step-succeeded")
    page.shots("steps-appearing")
    flows.wait_ready(page, "Live Contoso")
    watched = time.monotonic() - arrived
    # The token waits behind its button, however many times the panel was drawn on the way.
    flows.show_token(page)
    page.shots("ready")

    panels = page.evaluate("window.__panels")
    counts = [int(p.split(" of ")[0]) for p in panels if " of 6 steps" in p]
    assert counts == sorted(counts) and counts[-1] == 6, panels
    assert len(set(counts)) >= 4, panels  # the steps came one at a time, not all at the end
    assert panels[-1].endswith("| Ready"), panels
    # Each slow step was on screen while it ran (recorded as it happened, not polled for afterwards).
    running = page.evaluate("window.__running")
    assert {"Identify the signed-in user (WhoAmI)", "Read the organization's details"} <= set(running), running
    assert len(traffic.loads) == loads_on_arrival, traffic.loads  # never reloaded
    # One stream for the whole run (a reconnect only after each bounded wait), no other polling.
    assert 1 <= len(traffic.streams(created)) <= 1 + int(watched // WAIT_SECONDS), traffic.requests
    assert not [url for t, url in traffic.requests if t > arrived and re.search(r"/progress/(\?|$)", url)]


def test_an_idle_page_waits_quietly_and_still_shows_the_next_step(page, stack):
    flows.sign_in_as(page, stack, "alice", "admin")
    instance = _stuck_instance("alice", "Quiet Contoso")
    traffic = Traffic(page)
    page.goto(f"/instances/{instance.pk}/progress/")
    opened = time.monotonic()
    expect(page.locator("#progress-live .badge-info")).to_have_text("Running")
    page.shots("waiting")

    # Nothing changes for longer than one bounded wait: one stream, then exactly one reconnect.
    page.wait_for_timeout((WAIT_SECONDS + 2.5) * 1000)
    streams = traffic.streams()
    assert len(streams) == 2, traffic.requests
    assert streams[1] - streams[0] >= WAIT_SECONDS - 0.5  # no loop faster than the bounded wait
    assert [url for t, url in traffic.requests
            if t > opened and "/progress/stream/" not in url and "/static/" not in url] == []  # no other polling

    changed = time.monotonic()
    _finish_step(instance, "acquire_token", "Access token from Azure AD, valid until 10:00 UTC.")
    expect(page.locator(".step-list li.step-succeeded", has_text="Get an access token")).to_contain_text(
        "Access token from Azure AD", timeout=2000)
    assert time.monotonic() - changed < 2
    _finish_job(instance)
    expect(page.get_by_text("Quiet Contoso is ready")).to_be_visible(timeout=2000)
    page.shots("ready")
    assert len(traffic.loads) == 1, traffic.loads  # the first load only
    page.wait_for_timeout(1500)
    assert len(traffic.streams(opened)) == 2  # a finished job needs no stream


def test_without_javascript_the_page_refreshes_itself(browser, stack, transactional_db):
    context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 860},
                                  java_script_enabled=False)
    page = context.new_page()
    page.shots = Shots(page, "test-without-javascript-the-page-refreshes-itself")
    try:
        stack.manage("createuser", "alice", "--role", "admin", "--password", PASSWORD)
        login(page, "alice", PASSWORD)
        instance = _stuck_instance("alice", "Plain Contoso")
        traffic = Traffic(page)
        page.goto(f"/instances/{instance.pk}/progress/")
        expect(page.get_by_role("link", name="Reload")).to_be_visible()
        page.shots("no-javascript-running")
        _finish_step(instance, "acquire_token", "Access token from Azure AD.")
        # The <noscript> refresh (every 2 s) brings the step in.
        expect(page.locator(".step-list li.step-succeeded", has_text="Get an access token")).to_be_visible(
            timeout=5000)
        _finish_job(instance)
        expect(page.get_by_text("Plain Contoso is ready")).to_be_visible(timeout=5000)
        page.shots("no-javascript-ready")
        loads = len(traffic.loads)
        assert loads >= 2  # it did reload by itself
        page.wait_for_timeout(3000)
        assert len(traffic.loads) == loads  # and stops once the job has finished
        assert traffic.streams() == []
    finally:
        context.close()
