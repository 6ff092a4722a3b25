"""Differential test: the rows the sandbox's Dataverse returns for our rendered `$filter` are exactly the
rows the Python evaluator picks from all the records, for random expression trees (hypothesis).

Each tree goes the whole way a caller's text would: tree -> `where` text -> parse -> `$filter`, sent
over HTTPS with an application token from msal. Date-time literals are whole seconds here: the sandbox
cuts literals to the second (a documented simplification), where Dataverse compares them exactly.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from setup_portal.crm.errors import QueryError
from setup_portal.crm.evaluate import evaluate
from setup_portal.crm.odata import to_odata
from setup_portal.crm.resources import ACCOUNTS, CONTACTS, RESOURCES, to_record
from setup_portal.crm.where import parse_where, to_where

from .strategies import INJECTIONS, field_samples, trees

DIFFERENTIAL = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tables(dataverse) -> dict[str, list[dict]]:
    """Every seed record of accounts and contacts, as the API shows them, fetched once."""
    return {r.name: [to_record(row, r) for row in dataverse.rows(r)] for r in (ACCOUNTS, CONTACTS)}


def dataverse_ids(dataverse, resource, filter_text: str) -> set[str]:
    resp = dataverse.get(resource.entity_set, {"$select": resource.key, "$filter": filter_text})
    assert resp.status_code == 200, (filter_text, resp.status_code, resp.text[:500])
    body = resp.json()
    assert "@odata.nextLink" not in body
    return {row[resource.key] for row in body["value"]}


def compare(dataverse, resource, records: list[dict], where: str) -> set[str]:
    tree = parse_where(where, resource)
    expected = {r["id"] for r in records if evaluate(tree, r, resource)}
    assert dataverse_ids(dataverse, resource, to_odata(tree, resource)) == expected, where
    return expected


@pytest.mark.parametrize("name", ["accounts", "contacts"])
def test_it_gets_exactly_the_rows_the_evaluator_picks(dataverse, tables, name):
    resource = RESOURCES[name]
    records = tables[name]

    @DIFFERENTIAL
    @given(trees(resource, field_samples(resource, records), whole_seconds=True, max_leaves=6))
    def check(tree):
        compare(dataverse, resource, records, to_where(tree))

    check()


# Hand-picked expressions, each of which must select some rows but not all: the random trees above
# show agreement; these show that agreement is not only on empty or full answers.
@pytest.mark.parametrize(("name", "where"), [
    ("accounts", "revenue > 1000000 and city in ('Paris', 'Tokyo')"),
    ("accounts", "name like 'Contoso%' or name like '%Inc.'"),
    ("accounts", "name like '%''s%'"),
    ("accounts", "name like '%a_e%' and not name like '%ll%'"),
    ("accounts", "stateOrProvince != 'WA'"),
    ("accounts", "not stateOrProvince = 'WA'"),
    ("accounts", "stateOrProvince is null or state = 1"),
    ("accounts", "not (stateOrProvince = 'WA' or creditOnHold = true)"),
    ("accounts", "employees >= 5000 and employees < 10000 and industry in (1, 6, 7)"),
    ("accounts", "createdOn >= 2025-06-01 and createdOn < 2025-09-01T12:00:00+02:00"),
    ("accounts", "name >= 'm' and name < 'T'"),
    ("accounts", "parentAccountId is not null or primaryContactId is not null or revenue < 10000000"),
    ("contacts", "city = 'PARIS' and jobTitle like 'c%'"),
    ("contacts", "birthDate < 1970-01-01 and parentCustomerId is not null"),
    ("contacts", "email like '%@example.com' or lastName in ('Garcia', 'Xu')"),
    ("contacts", "modifiedOn > 2025-12-01T00:00:00Z and not fullName like 'A%'"),
])
def test_it_agrees_on_partial_answers(dataverse, tables, name, where):
    picked = compare(dataverse, RESOURCES[name], tables[name], where)

    assert 0 < len(picked) < len(tables[name])


@pytest.mark.parametrize("where", INJECTIONS)
def test_it_matches_injection_attempts_literally(dataverse, tables, where):
    """What the parser accepts from an injection attempt selects what the evaluator says: the text matched
    as a literal (usually no row), never every row."""
    try:
        picked = compare(dataverse, ACCOUNTS, tables["accounts"], where)
    except QueryError:
        return
    assert len(picked) < len(tables["accounts"])


def test_it_finds_names_with_quotes(dataverse, tables):
    with_quote = next(r for r in tables["accounts"] if "'" in r["name"])
    doubled = with_quote["name"].replace("'", "''")

    assert compare(dataverse, ACCOUNTS, tables["accounts"], f"name = '{doubled}'") == {with_quote["id"]}
