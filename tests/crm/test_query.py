"""The `where` language, fields, orderBy and pageSize: parsing, rendering to OData, errors and evaluation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from setup_portal.crm import query
from setup_portal.crm.errors import QueryError
from setup_portal.crm.evaluate import evaluate
from setup_portal.crm.odata import to_odata
from setup_portal.crm.query import build_list_query, parse_fields, parse_order_by, parse_page_size
from setup_portal.crm.resources import ACCOUNTS, CONTACTS, RESOURCES, TASKS
from setup_portal.crm.where import And, Compare, In, IsNull, Like, Not, Or, parse_where, to_where

from .odata_check import assert_same_meaning
from .strategies import INJECTIONS

FOURTH_COFFEE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def odata(where: str, resource=ACCOUNTS) -> str:
    return assert_same_meaning(parse_where(where, resource), resource)


def error(where: str, resource=ACCOUNTS) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_where(where, resource)
    assert caught.value.param == "where"
    return caught.value


def test_it_parses_the_example_from_the_issue():
    tree = parse_where("name = 'Contoso' and revenue > 1000000 and city in ('Paris', 'Lyon')", ACCOUNTS)

    assert tree == And((Compare("name", "=", "Contoso"), Compare("revenue", ">", Decimal(1000000)),
                        In("city", ("Paris", "Lyon"))))
    assert to_odata(tree, ACCOUNTS) == ("name eq 'Contoso' and revenue gt 1000000 and "
                                        "(address1_city eq 'Paris' or address1_city eq 'Lyon')")


@pytest.mark.parametrize(("where", "expected"), [
    ("name = 'Contoso'", "name eq 'Contoso'"),
    ("name != 'Contoso'", "name ne 'Contoso'"),
    ("name <> 'Contoso'", "name ne 'Contoso'"),
    ("name < 'M'", "name lt 'M'"),
    ("revenue >= 1000000.50", "revenue ge 1000000.50"),
    ("revenue > -12", "revenue gt -12"),
    ("employees <= 10", "numberofemployees le 10"),
    ("state = 0", "statecode eq 0"),
    ("creditOnHold = true", "creditonhold eq true"),
    ("creditOnHold != FALSE", "creditonhold ne false"),
    ("createdOn > 2025-01-31T09:30:00+02:00", "createdon gt 2025-01-31T07:30:00Z"),
    ("createdOn > 2025-01-31T09:30:00.250Z", "createdon gt 2025-01-31T09:30:00.25Z"),
    ("createdOn > 2025-01-31T09:30", "createdon gt 2025-01-31T09:30:00Z"),
    ("createdOn >= 2025-01-31", "createdon ge 2025-01-31T00:00:00Z"),
    ("modifiedOn < '2025-01-31T09:30:00Z'", "modifiedon lt 2025-01-31T09:30:00Z"),
    ("parentAccountId = 0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0", f"_parentaccountid_value eq {FOURTH_COFFEE}"),
    (f"id = '{FOURTH_COFFEE}'", f"accountid eq {FOURTH_COFFEE}"),
    ("city in ('Paris')", "address1_city eq 'Paris'"),
    ("employees in (1, 2)", "(numberofemployees eq 1 or numberofemployees eq 2)"),
    ("name like 'Con%'", "startswith(name,'Con')"),
    ("name like '%Inc.'", "endswith(name,'Inc.')"),
    ("name like '%offee%'", "contains(name,'offee')"),
    ("name like '%a_b%'", "contains(name,'a_b')"),
    ("name like 'Contoso'", "name eq 'Contoso'"),
    ("name not like 'Con%'", "not (startswith(name,'Con'))"),
    ("city not in ('Paris', 'Lyon')", "not ((address1_city eq 'Paris' or address1_city eq 'Lyon'))"),
    ("description is null", "description eq null"),
    ("description IS NOT NULL", "description ne null"),
    ("not name = 'x'", "not (name eq 'x')"),
    ("not not name = 'x'", "name eq 'x'"),
    ("not (name = 'a' or city = 'b')", "not (name eq 'a' or address1_city eq 'b')"),
    ("name = 'a' or name = 'b' and city = 'c'", "name eq 'a' or (name eq 'b' and address1_city eq 'c')"),
    ("(name = 'a' or name = 'b') and city = 'c'", "(name eq 'a' or name eq 'b') and address1_city eq 'c'"),
    ("NAME = 'x' AND City IN ('a') Or Revenue IS NOT NULL",
     "(name eq 'x' and address1_city eq 'a') or revenue ne null"),
    ("name = 'O''Brien'", "name eq 'O''Brien'"),
    ("name = '日本 é \U0001f600'", "name eq '日本 é \U0001f600'"),
    ("name='a'and(city='b')", "name eq 'a' and address1_city eq 'b'"),
    ("\tname\r\n=\n'a'", "name eq 'a'"),
])
def test_it_renders_odata(where, expected):
    assert odata(where) == expected


@pytest.mark.parametrize(("resource", "where", "expected"), [
    (CONTACTS, "birthDate <= 1990-05-01", "birthdate le 1990-05-01"),
    (CONTACTS, "birthDate = '1990-05-01'", "birthdate eq 1990-05-01"),
    (CONTACTS, f"parentCustomerId = {FOURTH_COFFEE}", f"_parentcustomerid_value eq {FOURTH_COFFEE}"),
    (CONTACTS, "fullName like 'Ad%'", "startswith(fullname,'Ad')"),
    (TASKS, "dueDate < 2026-01-01 and priority = 2", "scheduledend lt 2026-01-01T00:00:00Z and prioritycode eq 2"),
    (RESOURCES["notes"], "isDocument = false and text like '%price%'",
     "isdocument eq false and contains(notetext,'price')"),
    (RESOURCES["activities"], "activityType = 'task'", "activitytypecode eq 'task'"),
    (RESOURCES["opportunities"], "estimatedCloseDate > 2025-06-30 and closeProbability >= 50",
     "estimatedclosedate gt 2025-06-30 and closeprobability ge 50"),
    (RESOURCES["leads"], "estimatedAmount > 5000.25", "estimatedamount gt 5000.25"),
])
def test_it_renders_every_type_for_its_resource(resource, where, expected):
    assert odata(where, resource) == expected


@pytest.mark.parametrize(("where", "words"), [
    ("nmae = 'x'", "Unknown field 'nmae' at position 0. Did you mean 'name'?"),
    ("accountid = 'x'", "Unknown field 'accountid'"),
    ("revenue = 'lots'", "'revenue' holds a number; the string 'lots' at position 10 does not fit"),
    ("employees = 1.5", "'employees' holds a whole number"),
    ("employees = 2147483648", "out of range for 'employees'"),
    ("revenue = 1.12345678901", "out of range for 'revenue'"),
    ("revenue = 922337203685478", "out of range for 'revenue'"),
    ("name = 5", "'name' holds text; the number 5"),
    ("creditOnHold = 'yes'", "'creditOnHold' holds true or false"),
    ("creditOnHold < true", "can be compared only with = or !="),
    (f"id > {FOURTH_COFFEE}", "can be compared only with = or !="),
    ("parentAccountId = 'Fourth Coffee'", "holds a GUID"),
    ("createdOn > 'yesterday'", "holds a date-time"),
    ("createdOn > 2025-02-30", "2025-02-30 at position 12 is not a real date"),
    ("createdOn > 2025-01-01T25:00:00Z", "is not a real date-time"),
    ("createdOn > 1700-01-01", "before 1753-01-01"),
    ("createdOn > 9999-12-31T23:59:59-14:00", "is not a real date-time"),
    ("createdOn > 2025-01-01t10:00", "is not a number, date, date-time or GUID"),
    ("name = null", "write 'name is null'"),
    ("name is 'x'", "Expected 'null' at position 8"),
    ("revenue like '1%'", "'like' works on text fields; 'revenue' is a number"),
    ("name like 5", "Expected a pattern in single quotes after 'like'"),
    ("name like 'a%b'", "% may stand only at the start and/or the end"),
    ("name like '%a%b%'", "% may stand only at the start and/or the end"),
    ("name like 'a[bc]%'", "cannot contain '['"),
    ("name like 'a_c'", "needs a % too"),
    ("name in ()", "Expected a value for 'name' at position 9, found ')'"),
    ("name in 'a'", "Expected '(' after 'in'"),
    ("name in ('a' 'b')", "Expected ',' or ')'"),
    ("name = 'abc", "no closing quote"),
    ('name = "abc"', "single quotes, not double quotes"),
    ("name eq 'x'", "Expected a comparison (= != < <= > >=), 'like', 'in' or 'is' at position 5, found 'eq'"),
    ("name = 'a' name = 'b'", "Expected 'and', 'or' or the end of the expression at position 11"),
    ("name = 'a' and", "Expected a field name at position 14, found the end of the expression"),
    ("(name = 'a'", "Expected ')'"),
    ("name = 'a')", "Expected 'and', 'or'"),
    ("and = 1", "Expected a field name at position 0, found 'and'"),
    ("", "where is empty"),
    ("   ", "where is empty"),
    ("name = 'a'; drop table accounts", "Unexpected character ';'"),
    ("name = 'a' -- x", "Unexpected character '-'"),
    ("name\u00a0= 'a'", "Unexpected character '\\xa0' at position 4"),
    ("name = 'a\x00'", "the character U+0000 at position 9"),
    ("name = '\ud800'", "the character U+D800"),
    ("5abc = 1", "'5abc' at position 0 is not a number"),
])
def test_it_refuses_what_it_cannot_read_in_plain_words(where, words):
    assert words in error(where).message


def test_it_names_the_field_and_lists_the_known_ones():
    problem = error("nmae = 'x'")

    assert problem.field == "nmae"
    assert problem.known == ACCOUNTS.field_names
    assert error("revenue = 'x'").field == "revenue"


def test_it_limits_length_depth_and_size():
    assert "limit is 2000" in error("name = '" + "a" * 2000 + "'").message
    deep = "(" * 20 + "name = 'a'" + ")" * 20
    assert parse_where(deep, ACCOUNTS) == Compare("name", "=", "a")
    assert "nested too deeply" in error("(" * 21 + "name = 'a'" + ")" * 21).message
    assert "nested too deeply" in error("not " * 21 + "name = 'a'").message
    fifty = ", ".join(str(n) for n in range(50))
    assert len(parse_where(f"employees in ({fifty})", ACCOUNTS).values) == 50
    assert "at most 50 values" in error(f"employees in ({fifty}, 50)").message
    many = " or ".join(f"employees = {n}" for n in range(101))
    assert "too many conditions" in error(many).message


def test_it_keeps_the_deepest_allowed_expression_within_the_servers_limits():
    # The sandbox (like Dataverse's OData parser) refuses filters nested past 40 levels or with over 200 conditions.
    deepest = "not city in (" + ", ".join(["'x'"] * 50) + ")"
    for level in range(19):  # and/or alternate, so no level of parentheses is redundant
        deepest = f"name = 'a' {'and' if level % 2 else 'or'} ({deepest})"
    assert_same_meaning(parse_where(deepest, ACCOUNTS), ACCOUNTS)
    widest = " or ".join(f"city in ({', '.join(repr(str(n)) for n in range(50))})" for _ in range(2))
    assert_same_meaning(parse_where(widest, ACCOUNTS), ACCOUNTS)


@pytest.mark.parametrize("where", INJECTIONS)
def test_it_never_lets_text_change_the_meaning_of_a_filter(where):
    try:
        tree = parse_where(where, ACCOUNTS)
    except QueryError:
        return
    assert_same_meaning(tree, ACCOUNTS)


def test_it_reads_quotes_inside_strings_as_data():
    tree = parse_where("name = 'x'' or 1 eq 1 or name eq ''y'", ACCOUNTS)

    assert tree == Compare("name", "=", "x' or 1 eq 1 or name eq 'y")


# --- evaluation ------------------------------------------------------------------------------
RECORDS = [
    {"id": "00000000-0000-0000-0000-000000000001", "name": "Contoso", "city": "Paris", "revenue": 1500000.0,
     "creditOnHold": False, "createdOn": "2025-01-06T08:00:00Z", "description": None, "parentAccountId": None},
    {"id": "00000000-0000-0000-0000-000000000002", "name": "Margie's Travel", "city": None, "revenue": 20000.0,
     "creditOnHold": True, "createdOn": "2025-03-01T10:00:00Z", "description": "VIP",
     "parentAccountId": FOURTH_COFFEE},
]


def matching(where: str) -> list[str]:
    tree = parse_where(where, ACCOUNTS)
    return [r["name"] for r in RECORDS if evaluate(tree, r, ACCOUNTS)]


@pytest.mark.parametrize(("where", "names"), [
    ("name = 'contoso'", ["Contoso"]),
    ("name = 'CONTOSO'", ["Contoso"]),
    ("name = 'Margie''s Travel'", ["Margie's Travel"]),
    ("city = 'Paris'", ["Contoso"]),
    ("city != 'Paris'", []),  # null is neither equal nor unequal
    ("not city = 'Paris'", []),
    ("not (city = 'Paris' and revenue > 1)", []),  # Contoso: not true; Margie's: not (unknown and true)
    ("city = 'Paris' or revenue < 50000", ["Contoso", "Margie's Travel"]),
    ("city = 'Lyon' or revenue < 50000", ["Margie's Travel"]),
    ("city is null", ["Margie's Travel"]),
    ("city is not null", ["Contoso"]),
    ("revenue >= 1500000", ["Contoso"]),
    ("revenue = 1500000.00", ["Contoso"]),
    ("creditOnHold = true", ["Margie's Travel"]),
    ("createdOn > 2025-01-06T08:00:00Z", ["Margie's Travel"]),
    ("createdOn >= 2025-01-06T09:00:00+01:00", ["Contoso", "Margie's Travel"]),
    ("createdOn < 2025-01-07", ["Contoso"]),
    (f"parentAccountId = {FOURTH_COFFEE.upper()}", ["Margie's Travel"]),
    ("parentAccountId != 00000000-0000-0000-0000-000000000000", ["Margie's Travel"]),
    ("id in ('00000000-0000-0000-0000-000000000001')", ["Contoso"]),
    ("name like 'con%'", ["Contoso"]),
    ("name like '%TRAVEL'", ["Margie's Travel"]),
    ("name like '%e''s%'", ["Margie's Travel"]),
    ("name like '%a_g%'", ["Margie's Travel"]),
    ("name like 'c_ntoso%'", ["Contoso"]),
    ("name like 'contoso'", ["Contoso"]),
    ("name not like '%o%'", ["Margie's Travel"]),
    ("description like '%'", ["Margie's Travel"]),
    ("name in ('contoso', 'x') and not not city = 'paris'", ["Contoso"]),
    ("name < 'm'", ["Contoso"]),
])
def test_it_evaluates_as_dataverse_does(where, names):
    assert matching(where) == names


def test_it_folds_only_ascii_letters_as_the_sandbox_does():
    records = [{"id": "00000000-0000-0000-0000-000000000003", "name": "École"}]
    tree = parse_where("name = 'école'", ACCOUNTS)

    assert not evaluate(tree, records[0], ACCOUNTS)
    assert evaluate(parse_where("name = 'ÉCOLE'", ACCOUNTS), records[0], ACCOUNTS)


# --- writing trees back as text ------------------------------------------------------------------
def test_it_writes_trees_back_as_where_text():
    tree = And((Or((Compare("name", "=", "a'b"), Like("city", "%x%"))),
                Not(In("employees", (1, 2))), IsNull("parentAccountId", negated=True),
                Compare("createdOn", ">", datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)),
                Compare("id", "=", uuid.UUID(FOURTH_COFFEE))))

    text = to_where(tree)

    assert text == ("(name = 'a''b' or city like '%x%') and not employees in (1, 2) and parentAccountId is not null "
                    f"and createdOn > 2025-01-02T03:04:05.6Z and id = {FOURTH_COFFEE}")
    assert parse_where(text, ACCOUNTS) == tree


# --- fields, orderBy, pageSize -----------------------------------------------------------------
def test_it_selects_the_key_and_the_chosen_fields():
    fields = parse_fields(" name, City ,name,revenue", ACCOUNTS)

    assert [f.name for f in fields] == ["id", "name", "city", "revenue"]
    assert query.select_option(ACCOUNTS, fields) == "accountid,name,address1_city,revenue"
    assert query.select_option(ACCOUNTS).split(",") == ACCOUNTS.columns


@pytest.mark.parametrize(("text", "words"), [
    ("name,nope", "Unknown field 'nope' in fields. accounts have: id, name"),
    ("", "fields is empty"),
    (" , ", "Unknown field ''"),
    ("name;drop", "Unknown field 'name;drop'"),
])
def test_it_refuses_unknown_fields(text, words):
    with pytest.raises(QueryError) as caught:
        parse_fields(text, ACCOUNTS)
    assert words in caught.value.message and caught.value.param == "fields"


def test_it_orders_by_known_sortable_fields():
    order = parse_order_by("name desc, createdOn,revenue ASC", ACCOUNTS)

    assert [(f.name, d) for f, d in order] == [("name", True), ("createdOn", False), ("revenue", False)]
    listing = build_list_query(ACCOUNTS, order_by="name desc, createdOn")
    assert listing.params["$orderby"] == "name desc,createdon asc"


@pytest.mark.parametrize(("text", "words"), [
    ("nope", "Unknown field 'nope' in orderBy. accounts can be sorted by: id, name"),
    ("description", "Records cannot be sorted by 'description'"),
    ("parentAccountId desc", "Records cannot be sorted by 'parentAccountId'"),
    ("name sideways", "is not 'field', 'field asc' or 'field desc'"),
    ("name desc desc", "is not 'field', 'field asc' or 'field desc'"),
    ("name, name desc", "'name' appears twice"),
    ("name,,city", "'' in orderBy"),
    ("a,b,c,d,e,f", "at most 5 fields"),
    ("", "orderBy is empty"),
])
def test_it_refuses_orders_it_cannot_give(text, words):
    with pytest.raises(QueryError) as caught:
        parse_order_by(text, ACCOUNTS)
    assert words in caught.value.message and caught.value.param == "orderBy"


@pytest.mark.parametrize(("text", "size"), [(None, 50), ("1", 1), ("200", 200), (" 25 ", 25), (7, 7)])
def test_it_reads_page_sizes(text, size):
    assert parse_page_size(text) == size


@pytest.mark.parametrize("text", ["0", "201", "-1", "1.5", "", "abc", "١٢", "99999999999999999999", "1e2", "+5"])
def test_it_refuses_page_sizes_out_of_range(text):
    with pytest.raises(QueryError) as caught:
        parse_page_size(text)
    assert caught.value.param == "pageSize" and "from 1 to 200" in caught.value.message


def test_it_builds_a_whole_list_query():
    listing = build_list_query(ACCOUNTS, where="city in ('Paris', 'Lyon')", fields="name,city",
                               order_by="name", page_size="20")

    assert listing.params == {"$select": "accountid,name,address1_city",
                              "$filter": "(address1_city eq 'Paris' or address1_city eq 'Lyon')",
                              "$orderby": "name asc"}
    assert listing.prefer == "odata.maxpagesize=20"
    assert build_list_query(ACCOUNTS).params == {"$select": query.select_option(ACCOUNTS)}
    assert build_list_query(ACCOUNTS).page_size == 50
