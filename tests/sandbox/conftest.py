"""Helpers for the sandbox's own tests."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

REDIRECT_URI = "http://127.0.0.1:8000/azure/callback/"


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def sbx(clean_sandbox):
    """A sandbox with a clean slate: no faults, codes, refresh tokens or runtime consents."""
    clean_sandbox.reset()
    return clean_sandbox


@pytest.fixture
def info(sbx) -> dict:
    return sbx.info


@pytest.fixture
def user_scope(info) -> list[str]:
    return [f"{info['dynamics_url']}/user_impersonation"]
