"""403, 404 and 500 pages in the portal's layout, with the reason and a way back (DEBUG off)."""

from __future__ import annotations

import html
import uuid

import pytest
from django.test import Client
from django.urls import path

from config.urls import urlpatterns as portal_urlpatterns

from .wizard.helpers import new_setup


def boom(request):
    raise RuntimeError("an unexpected failure inside a view")


# For the 500 test: the portal's URLs plus one view that fails.
urlpatterns = [path("boom/", boom), *portal_urlpatterns]


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False


def text(response) -> str:
    return html.unescape(response.content.decode())


def signed_in(user, **options) -> Client:
    """A client for `user` with test-client options (exceptions as 500s, CSRF checks on)."""
    client = Client(**options)
    client.force_login(user)
    return client


def test_it_shows_the_views_reason_on_a_403_in_the_layout(charlie_client):
    response = charlie_client.get("/instances/")
    assert response.status_code == 403
    page = text(response)
    assert "This page is for admins and team leads." in page
    assert 'class="site-header"' in page and "Account menu for charlie" in page
    assert "ask an admin to give you one" in page
    assert 'href="/">Home</a>' in page


def test_it_keeps_a_permission_denied_message_of_the_wizard(alice_client, bob_client):
    setup = new_setup(alice_client)
    response = bob_client.post(f"/setup/{setup.pk}/account/", {"dynamics_account": "on"})
    assert response.status_code == 403
    page = text(response)
    assert "This draft is read-only for you." in page
    assert "(Team lead)" in page
    assert 'href="/setup/">Setups in progress</a>' in page  # back to the section the address belongs to


def test_it_shows_a_404_with_a_way_back_to_the_section(alice_client):
    response = alice_client.get(f"/instances/{uuid.uuid4()}/")
    assert response.status_code == 404
    page = text(response)
    assert "There is nothing here" in page
    assert "matches the given query" not in page  # Django's wording names a model, not the problem
    assert "mistyped, or what it pointed to was deleted" in page
    assert 'href="/instances/">All instances</a>' in page
    assert 'class="site-header"' in page


def test_it_shows_the_views_404_reason(alice_client):
    setup = new_setup(alice_client)
    response = alice_client.get(f"/setup/{setup.pk}/no-such-stage/")
    assert response.status_code == 404
    assert "No such stage." in text(response)


def test_it_offers_sign_in_on_a_404_for_anonymous_visitors(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = text(response)
    assert "There is nothing here" in page and "<code>/no/such/page/</code>" in page
    assert 'href="/accounts/login/">Sign in</a>' in page


@pytest.mark.urls("tests.test_error_pages")
def test_it_renders_a_500_in_the_layout_without_a_request_context(alice):
    response = signed_in(alice, raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    page = text(response)
    assert "Something went wrong on our side" in page
    assert "/static/css/portal.css" in page and 'href="/">Home</a>' in page
    assert "an unexpected failure" not in page  # the exception stays in the log


def test_it_explains_a_failed_csrf_check_in_the_layout(alice):
    response = signed_in(alice, enforce_csrf_checks=True).post("/setup/new/")
    assert response.status_code == 403
    page = text(response)
    assert "The form could not be sent" in page and "Nothing was changed." in page
    assert 'class="site-header"' in page
