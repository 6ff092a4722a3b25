"""The instance's own CRM API docs (crm-openapi.json) answer problem details when its environment can't be read."""

from __future__ import annotations

from tests.api.rest.conftest import key_client
from tests.instances.factories import make_instance


def test_its_schema_is_a_problem_not_a_500_when_the_environment_cannot_be_reached(alice, settings, tmp_path):
    # A sandbox instance while the sandbox is not running: its CA file is not there, no connection can be made.
    settings.SANDBOX_DIR = tmp_path / "no-sandbox-here"
    inst = make_instance(alice, name="unreachable")
    answer = key_client(alice).get(f"/api/v1/instances/{inst.pk}/crm-openapi.json")
    assert 400 <= answer.status_code < 600 and answer.status_code != 500, answer.content[:500]
    assert answer["Content-Type"] == "application/problem+json"
