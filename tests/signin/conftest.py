"""Setups wired to the sandbox tenant, and the browser part of the OAuth dance (the /azure/ views)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from setup_portal.wizard.models import Setup
from tests.conftest import _make_user


@pytest.fixture
def dave_client(db, django_user_model) -> Client:
    """A second admin, who owns none of alice's setups."""
    client = Client()
    client.force_login(_make_user(django_user_model, "dave", "admin"))
    return client


@pytest.fixture
def make_setup(sandbox):
    """A draft setup filled with the sandbox's values for one authentication type."""

    def make(owner, auth_type: str = "oauth2", **overrides) -> Setup:
        info = sandbox.info
        values = {"owner": owner, "use_sandbox": True, "dynamics_url": info["dynamics_url"],
                  "region": info.get("region", "Sandbox"), "tenant": info["tenant_id"], "auth_type": auth_type,
                  "current_stage": "authorize", "permissions_confirmed": True}
        if auth_type == "custom":
            values.update(username=info["username"], password=info["password"])
        else:
            values.update(client_id=info["client_id"], client_secret=info["client_secret"],
                          secret_hint="••••" + info["client_secret"][-4:])
        values.update(overrides)
        return Setup.objects.create(**values)

    return make


def callback_path(location: str) -> str:
    """The portal-relative callback URL the sandbox redirected the browser to (admin consent answers)."""
    parts = urlsplit(location)
    assert parts.path == "/azure/callback/", location
    return f"{parts.path}?{parts.query}"


def start(client, setup) -> str:
    """POST the Authorize button; returns the sandbox sign-in URL the portal redirects to."""
    response = client.post(f"/azure/authorize/{setup.pk}/")
    assert response.status_code == 302, response.content[:2000]
    return response["Location"]


def post_answer(client, answer: tuple[str, dict]):
    """Post Azure AD's answer (response_mode=form_post) to the callback, as the sandbox's page does."""
    url, params = answer
    assert urlsplit(url).path == "/azure/callback/", url
    return client.post("/azure/callback/", params)


def outcome(client, posted):
    """The callback answers a posted answer with 303 to a GET of its outcome; follow that one step."""
    assert posted.status_code == 303, (posted.status_code, posted.content[:2000])
    return client.get(posted["Location"])


def authorize(client, sandbox, setup, **sign_in):
    """The whole dance for an OAuth 2.0 setup: portal -> sandbox pages -> posted answer -> outcome page."""
    return outcome(client, post_answer(client, sandbox.browser_answer(start(client, setup), **sign_in)))
