"""The management API's docs describe the instance API too, from crm/reference.py."""

from __future__ import annotations

from setup_portal.crm.reference import markdown
from setup_portal.crm.where import OPERATORS


def test_it_lists_every_operator_and_limit():
    text = markdown()
    for op in [*OPERATORS, "<>", "like", "not like", "in (", "not in", "is null", "is not null", "and", "or", "not"]:
        assert f"`{op}" in text, op
    for words in ("nextPage", "pageSize", "Idempotency-Key", "If-Match", "Retry-After", "X-Request-ID",
                  "application/problem+json", "bulk", "batch", "1,000"):
        assert words in text, words


def test_it_is_in_the_management_api_schema(alice_client):
    schema = alice_client.get("/api/v1/schema/?format=json").json()
    assert "## The instance API (`/api/v1/crm/`)" in schema["info"]["description"]
    assert "### `where`" in schema["info"]["description"]
