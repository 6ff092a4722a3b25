"""`where` through the API, differentially: for random expression trees (hypothesis), the rows
GET /api/v1/crm/<resource>?where=… returns (all pages) are exactly the rows a Python evaluation of
the same tree picks from the sandbox's records."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings

from setup_portal.api.crm import metadata
from setup_portal.crm.evaluate import evaluate
from setup_portal.crm.resources import RESOURCES
from setup_portal.crm.where import parse_where, to_where
from tests.crm.strategies import INJECTIONS, field_samples, trees

THROUGH_THE_API = settings(max_examples=40, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def every_record(app, resource: str, where: str | None = None) -> list[dict]:
    params = {"pageSize": "200", **({"where": where} if where is not None else {})}
    records = []
    while True:
        answer = app.get(f"/api/v1/crm/{resource}", params)
        assert answer.status_code == 200, (where, answer.content[:500])
        records += answer.json()["records"]
        if not answer.json()["nextPage"]:
            return records
        params = {"nextPage": answer.json()["nextPage"]}


@pytest.mark.parametrize("name", ["accounts", "contacts"])
def test_it_returns_exactly_the_rows_the_evaluator_picks(app, clean_sandbox, name):
    resource = RESOURCES[name]
    records = every_record(app, name)

    @THROUGH_THE_API
    @given(trees(resource, field_samples(resource, records), whole_seconds=True, max_leaves=5))
    def check(tree):
        where = to_where(tree)
        expected = {r["id"] for r in records if evaluate(parse_where(where, resource), r, resource)}
        assert {r["id"] for r in every_record(app, name, where)} == expected, where

    check()


@pytest.mark.parametrize("name", ["cr8a2_projects", "account"])
def test_it_filters_metadata_typed_columns_as_the_evaluator_does(app, clean_sandbox, name):
    # Every column of a custom table, and of account by its logical name (custom choices, money,
    # date-only columns and lookups among them), typed by the environment's metadata.
    resource = metadata.catalogue(RequestFactory().get("/"), app.instance).resource(name)
    records = every_record(app, name)

    @THROUGH_THE_API
    @given(trees(resource, field_samples(resource, records), whole_seconds=True, max_leaves=5))
    def check(tree):
        where = to_where(tree)
        expected = {r["id"] for r in records if evaluate(parse_where(where, resource), r, resource)}
        assert {r["id"] for r in every_record(app, name, where)} == expected, where

    check()


@pytest.mark.parametrize("where", INJECTIONS)
def test_it_answers_injections_with_400_or_a_literal_match(app, clean_sandbox, where):
    answer = app.get("/api/v1/crm/accounts", {"where": where, "pageSize": "200"})
    if answer.status_code == 400:
        assert answer["Content-Type"] == "application/problem+json" and answer.json()["errors"]
        return
    assert answer.status_code == 200
    records = every_record(app, "accounts")
    tree = parse_where(where, RESOURCES["accounts"])
    picked = {r["id"] for r in records if evaluate(tree, r, RESOURCES["accounts"])}
    assert {r["id"] for r in every_record(app, "accounts", where)} == picked
    assert len(picked) < len(records)
