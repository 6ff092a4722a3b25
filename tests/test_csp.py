"""Content-Security-Policy and Permissions-Policy on every response, and templates that keep to them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from setup_portal.wizard.stages import STAGES
from tests.conftest import ROOT
from tests.instances.factories import make_instance

from .wizard.helpers import new_setup

# Answered by a middleware in front of every other one, for probes: JSON, never rendered as a page.
NOT_PAGES = {"/healthz"}
TEMPLATE_DIRS = [ROOT / "templates", *sorted((ROOT / "setup_portal").glob("*/templates"))]
# The sandbox stands in for Microsoft's sign-in pages: another origin, served without the portal's middleware.
OTHER_ORIGINS = {ROOT / "setup_portal" / "sandbox" / "templates"}


def _routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    """Every route of the URLconf as a path template, e.g. "instances/<uuid:instance_id>/"."""
    routes = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            routes += _routes(entry, route)
        elif isinstance(entry, URLPattern):
            routes.append(route)
    return routes


def _fill(route: str, values: dict[str, str]) -> str:
    """A concrete path: each <converter:name> from `values` (by name), regex routes reduced to their prefix."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "x"), route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "x"), route)
    return "/" + route.replace("^", "").replace("$", "")


@pytest.fixture
def portal_paths(alice, bob, alice_client):
    setup = new_setup(alice_client)
    instance = make_instance(alice)
    values = {"setup_id": str(setup.pk), "instance_id": str(instance.pk), "pk": str(bob.pk),
              "user_id": str(bob.pk), "uidb36": "1", "key": "x"}
    paths = {_fill(route, {**values, "stage": stage}) for route in _routes(get_resolver()) for stage in STAGES.keys}
    paths |= {"/no/such/page/", "/static/css/portal.css", "/static/vendor/htmx.min.js"}
    return sorted(paths - NOT_PAGES)


def _client(user=None) -> Client:
    client = Client(raise_request_exception=False)
    if user:
        client.force_login(user)
    return client


@pytest.mark.parametrize("who", ["alice", "bob", "anonymous"])
def test_it_sends_both_headers_on_every_response(who, request, portal_paths, settings):
    settings.DEBUG = False
    client = _client(None if who == "anonymous" else request.getfixturevalue(who))
    missing = []
    for path in portal_paths:
        response = client.get(path)
        if "Content-Security-Policy" not in response or "Permissions-Policy" not in response:
            missing.append(f"{path} ({response.status_code})")
    assert len(portal_paths) > 25  # the walk really covered the URLconf
    assert missing == []


def test_the_policy_forbids_inline_script_and_style(client, db):
    csp = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    # Authorize and Re-authenticate post a form that redirects to the sign-in host: form-action must allow it.
    assert "https://login.microsoftonline.com" in directives["form-action"].split()


def test_the_permissions_policy_turns_off_unused_features(client, db):
    policy = client.get("/accounts/login/")["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy
    assert "clipboard-write=(self)" in policy  # the Copy buttons


def _templates() -> list[Path]:
    return [path for folder in TEMPLATE_DIRS if folder not in OTHER_ORIGINS for path in folder.rglob("*.html")]


TAG = re.compile(r"<[a-zA-Z][^<>]*>")


def test_no_template_has_inline_script_handlers_or_styles():
    offenders = []
    templates = _templates()
    for path in templates:
        source = re.sub(r"\{#.*?#\}", "", path.read_text())  # template comments may name tags
        for tag in TAG.findall(source):
            name = tag[1:].split()[0].rstrip(">").lower()
            if name == "script" and not re.search(r"\ssrc=", tag):
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
            if re.search(r"\son[a-z]+\s*=", tag, re.I):
                offenders.append(f"{path.relative_to(ROOT)}: event handler attribute in {tag[:60]}")
            if re.search(r"\sstyle\s*=", tag, re.I):
                offenders.append(f"{path.relative_to(ROOT)}: style attribute in {tag[:60]}")
            if "javascript:" in tag.lower():
                offenders.append(f"{path.relative_to(ROOT)}: javascript: URL in {tag[:60]}")
        if re.search(r"<style[\s>]", source, re.I):
            offenders.append(f"{path.relative_to(ROOT)}: inline <style>")
    assert len(templates) > 30
    assert offenders == []


def test_htmx_is_configured_for_the_policy(alice_client):
    page = alice_client.get("/").content.decode()
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert meta, "base.html sets htmx's configuration in a meta tag"
    config = meta.group(1)
    for setting in ('"includeIndicatorStyles": false', '"allowEval": false', '"allowScriptTags": false'):
        assert setting in config
    # The vendored htmx knows these settings (2.x).
    htmx = (ROOT / "static" / "vendor" / "htmx.min.js").read_text()
    assert 'version:"2.' in htmx
    for name in ("includeIndicatorStyles", "allowEval", "allowScriptTags"):
        assert f"{name}:" in htmx
