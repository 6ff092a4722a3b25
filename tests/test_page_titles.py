"""Every page's title is "<page> · Dynamics CRM Setup Portal" (base.html), allauth's pages included."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

TITLE = re.compile(r"<title>(.*?)</title>", re.S)
SUFFIX = " · Dynamics CRM Setup Portal"


def title_of(response) -> str:
    return " ".join(html.unescape(TITLE.search(response.content.decode())[1]).split())


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/password/reset/", "/no/such/page/"])
def test_anonymous_pages_have_a_separated_title(client, db, path):
    title = title_of(client.get(path))
    assert title.endswith(SUFFIX) and title.removesuffix(SUFFIX).strip(), title


@pytest.mark.parametrize("path", ["/", "/instances/", "/audit/", "/setup/new/", "/users/", "/users/teams/",
                                  "/account/api-keys/", "/notifications/", "/accounts/password/change/",
                                  "/accounts/2fa/", "/accounts/reauthenticate/", "/setup/sandbox/"])
def test_signed_in_pages_have_a_separated_title(alice_client, path):
    response = alice_client.get(path)
    assert response.status_code in (200, 405), (path, response.status_code)
    title = title_of(response)
    assert title.endswith(SUFFIX), title
    assert title.removesuffix(SUFFIX).strip() and "Portal" not in title.removesuffix(SUFFIX), title


def test_the_sign_in_title_reads_as_words(client, db):
    assert title_of(Client().get("/accounts/login/")) == "Sign in · Dynamics CRM Setup Portal"
