"""WCAG 2.1 A/AA checks with axe-core on every page a browser journey visits.

axe-core comes from npm (tests/e2e/axe/package.json, installed by `make test`), never a
CDN. It is added to every page as an init script (Playwright's init scripts are not subject to
the portal's Content-Security-Policy, which refuses inline scripts) and runs once each document
has loaded, reporting through an exposed function; `page.goto` waits for the check of the page it
leaves. The page fixture fails the test when any page had a serious or
critical violation. Content swapped in by htmx without a new document is checked only where a
test calls `check(page)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}

# Violations that are not the portal's to fix, each with its reason. Keyed by URL path prefix.
EXCLUDED = {
    # Swagger UI (drf-spectacular-sidecar) nests a button inside each operation's summary
    # button and a copy-to-clipboard button inside the path's link: its own markup, which
    # CSS cannot change. Its contrast is the portal's (static/css/api_docs.css) and is checked.
    # Its response-examples <select> has no label (select-name), also its own markup; the docs
    # page runs no script of the portal's that could name it.
    "/api/v1/docs/": {"nested-interactive", "select-name"},
}

# Runs in the top document only, once the page's own scripts have run (htmx swaps on load), and
# reports through a function the test exposes.
_RUNNER = """
(() => {
  if (window.top !== window) return;
  window.__axeDone = new Promise((resolve) => {
    window.addEventListener('load', () => setTimeout(() => {
      axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations'],
                         rules: {'label-content-name-mismatch': {enabled: true}}})
        .then((results) => results.violations)
        .catch((error) => [{id: 'axe-error', impact: 'critical', help: String(error), nodes: []}])
        .then((violations) => window.__axeReport(location.pathname, violations))
        .finally(resolve);
    }, 0));
  });
})();
"""
_WAIT = "() => window.__axeDone && Promise.race([window.__axeDone, new Promise((r) => setTimeout(r, 10000))])"


@dataclass
class AxeReports:
    """The serious and critical WCAG violations axe-core found, page by page."""

    failures: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def record(self, path: str, violations: list[dict]) -> None:
        self.pages.append(path)
        excluded = next((rules for prefix, rules in EXCLUDED.items() if path.startswith(prefix)), set())
        for violation in violations:
            if violation["impact"] in FAILING_IMPACTS and violation["id"] not in excluded:
                nodes = violation["nodes"]
                targets = [" ".join(map(str, node["target"])) for node in nodes[:5]]
                first = nodes[0].get("failureSummary", "").replace("\n", " ") if nodes else ""
                self.failures.append(f"{path}: {violation['id']} ({violation['impact']}, {len(nodes)} nodes): "
                                     f"{violation['help']} at {targets}; first: {first}")


def watch(context) -> AxeReports:
    """Run axe-core on every document the context loads; returns where the findings gather."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: `make test` installs axe-core from npm (tests/e2e/axe).")
    reports = AxeReports()
    context.expose_function("__axeReport", reports.record)
    context.add_init_script(script=AXE_JS.read_text() + _RUNNER % json.dumps(WCAG_TAGS))
    return reports


def wait_before_goto(page) -> None:
    """Make `page.goto` wait for the check of the page it leaves (goto after goto would cut it short).

    Playwright cannot evaluate in a page from a route handler (it waits for the navigation the
    handler holds), so a click that leaves a page within the check's fraction of a second is the
    one way a document goes unchecked; journeys fill or assert something before they click.
    """
    goto = page.goto

    def checked_goto(*args, **kwargs):
        _wait(page)
        return goto(*args, **kwargs)

    page.goto = checked_goto


def _wait(page) -> None:
    """Wait for the check of the page's current document, if it still runs."""
    try:
        page.evaluate(_WAIT)
    except Exception:  # the document is already gone (a second navigation, the context closing)
        pass


def check(page, label: str = "") -> None:
    """Check the page as it is now: a state reached without a new document (an open menu, a rendered API doc)."""
    _wait(page)
    violations = page.evaluate("""(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
        resultTypes: ['violations'], rules: {'label-content-name-mismatch': {enabled: true}}})
        .then((results) => results.violations)""", WCAG_TAGS)
    path = page.evaluate("location.pathname")
    page.axe.record(f"{path}{' (' + label + ')' if label else ''}", violations)


def finish(page, reports: AxeReports) -> None:
    """Wait for the check of the page still open, then fail on what the journey's pages had."""
    _wait(page)
    if reports.failures:
        pytest.fail("WCAG 2.1 A/AA (axe-core), serious or critical:\n" + "\n".join(reports.failures), pytrace=False)
