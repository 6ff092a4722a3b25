"""The portal's own 404 and 405 pages with DEBUG on (as under `make run`) and off: never Django's
technical 404 listing the URL patterns, never a blank 405; problem details under /api/."""

from __future__ import annotations

import html
import json

import pytest
from django.test import Client

from setup_portal.teams.models import Team

from .instances.factories import make_instance


@pytest.fixture(params=[True, False], ids=["debug-on", "debug-off"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def text(response) -> str:
    return html.unescape(response.content.decode())


def assert_portal_404(response, path: str) -> None:
    assert response.status_code == 404
    page = text(response)
    assert "There is nothing here" in page and 'class="site-header"' in page
    assert f"<code>{path}</code>" in page
    assert "URLconf" not in page and "Using the URLconf" not in page and "setup/" not in page.split("<main")[0]
    assert response["X-Frame-Options"] == "DENY"  # rendered under the other middleware's headers


def test_it_shows_the_portals_404_for_an_unknown_address(debug, client):
    assert_portal_404(client.get("/no/such/page/"), "/no/such/page/")


def test_it_shows_the_portals_404_for_another_teams_instance(debug, bob, bob_client, django_user_model):
    other = Team.objects.create(name="Field sales")
    inst = make_instance(bob, name="field-ready", team=other)
    response = bob_client.get(f"/instances/{inst.pk}/")
    assert response.status_code == 404
    page = text(response)
    assert "There is nothing here" in page and "Account menu for bob" in page
    assert "field-ready" not in page and "Traceback" not in page and "URLconf" not in page


def test_it_keeps_the_slash_redirect(debug, alice_client):
    response = alice_client.get("/instances")
    assert response.status_code == 301 and response["Location"] == "/instances/"


def test_it_answers_problem_details_for_an_unknown_api_address(debug, alice_client):
    for path in ("/api/v1/", "/api/v1/no-such-thing", "/api/"):
        response = alice_client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json"
        body = json.loads(response.content)
        assert body["status"] == 404 and body["instance"] == path
        assert "/api/v1/docs/" in body["detail"]


def test_it_shows_a_styled_405_for_a_get_on_an_action(debug, alice_client):
    response = alice_client.get("/setup/sandbox/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    page = text(response)
    assert "This address is not a page" in page and "Nothing was changed" in page
    assert "<code>/setup/sandbox/</code>" in page and "Account menu for alice" in page


def test_it_keeps_the_apis_own_405(debug, alice_client):
    response = alice_client.delete("/api/v1/setups")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["status"] == 405


def test_it_leaves_a_views_own_404_answer_alone(debug, alice_client):
    response = alice_client.get("/api/v1/instances/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert "docs" not in json.loads(response.content)["detail"]


def test_it_offers_sign_in_on_a_405_for_anonymous_visitors(debug):
    response = Client().get("/setup/sandbox/")
    assert response.status_code == 405
    assert 'href="/accounts/login/">Sign in</a>' in text(response)
