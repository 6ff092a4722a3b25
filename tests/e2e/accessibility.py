"""WCAG 2.1 A/AA checks with axe-core on every page a browser journey visits.

axe-core comes from npm (tests/e2e/axe/package.json, installed by `make install-dev`), never a
CDN. It is added to every page as an init script (Playwright's init scripts are not subject to
the portal's Content-Security-Policy, which refuses inline scripts), runs once each document has
loaded, and reports back through an exposed function. The page fixture fails the test when any
page had a serious or critical violation.
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
    "/api/v1/docs/": {"nested-interactive"},
}

# Runs in the top document only; waits for the page's own scripts (htmx swaps on load) to settle.
_RUNNER = """
(() => {
  if (window.top !== window) return;
  window.__axeDone = new Promise((resolve) => {
    window.addEventListener('load', () => setTimeout(() => {
      axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations'],
                           rules: {'label-content-name-mismatch': {enabled: true}}})
        .then((results) => window.__axeReport(location.pathname, JSON.stringify(results.violations)))
        .catch((error) => window.__axeReport(location.pathname, JSON.stringify([{id: 'axe-error',
                impact: 'critical', help: String(error), nodes: []}])))
        .finally(resolve);
    }, 50));
  });
})();
"""


@dataclass
class AxeReports:
    """The serious and critical WCAG violations axe-core found, page by page."""

    failures: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def record(self, path: str, violations_json: str) -> None:
        self.pages.append(path)
        excluded = next((rules for prefix, rules in EXCLUDED.items() if path.startswith(prefix)), set())
        for violation in json.loads(violations_json):
            if violation["impact"] in FAILING_IMPACTS and violation["id"] not in excluded:
                nodes = violation["nodes"]
                targets = [" ".join(map(str, node["target"])) for node in nodes[:5]]
                first = nodes[0].get("failureSummary", "").replace("\n", " ") if nodes else ""
                self.failures.append(f"{path}: {violation['id']} ({violation['impact']}, {len(nodes)} nodes): "
                                     f"{violation['help']} at {targets}; first: {first}")


def watch(context) -> AxeReports:
    """Run axe-core on every document the context loads; returns where the findings gather."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: `make install-dev` installs axe-core from npm (tests/e2e/axe).")
    reports = AxeReports()
    context.expose_function("__axeReport", reports.record)
    context.add_init_script(script=AXE_JS.read_text() + _RUNNER % json.dumps(WCAG_TAGS))
    return reports


def check(page, label: str = "") -> None:
    """Check the page as it is now: a state reached without a new document (an open menu, a rendered API doc)."""
    violations = page.evaluate("""(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
        resultTypes: ['violations'], rules: {'label-content-name-mismatch': {enabled: true}}})
        .then((results) => JSON.stringify(results.violations))""", WCAG_TAGS)
    path = page.evaluate("location.pathname")
    page.axe.record(f"{path}{' (' + label + ')' if label else ''}", violations)


def finish(page, reports: AxeReports) -> None:
    """Wait for the check of the page still open, then fail on what the journey's pages had."""
    try:
        page.evaluate("() => window.__axeDone")
    except Exception:  # the page closed or is mid-navigation: the documents before it were checked
        pass
    if reports.failures:
        pytest.fail("WCAG 2.1 A/AA (axe-core), serious or critical:\n" + "\n".join(reports.failures), pytrace=False)
