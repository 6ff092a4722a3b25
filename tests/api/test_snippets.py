"""The API panel's examples: the instance's URL filled in, the token only as INSTANCE_TOKEN."""

from __future__ import annotations

import ast

from setup_portal.api.snippets import languages
from setup_portal.instances.models import Instance
from tests.instances.factories import make_instance

BASE = "https://portal.example.com/api/v1/crm/"


def test_it_fills_in_the_url_and_never_a_token():
    for language in languages(BASE):
        assert [s.title for s in language.snippets] == ["List with where", "Create", "Bulk create"]
        for snippet in language.snippets:
            assert BASE in snippet.code or f'"{BASE}"' in snippet.code
            assert "INSTANCE_TOKEN" in snippet.code and "dci_" not in snippet.code


def test_it_gives_python_that_parses():
    python = next(lang for lang in languages(BASE) if lang.key == "python")
    for snippet in python.snippets:
        ast.parse(snippet.code)


def test_it_shows_the_examples_on_the_instance_page(alice, alice_client):
    instance = make_instance(alice, name="snippets", status=Instance.Status.READY)
    page = alice_client.get(f"/instances/{instance.pk}/").content.decode()
    assert 'role="tablist"' in page and "accounts/bulk" in page and "Python (requests)" in page
    assert "Swagger UI" in page
