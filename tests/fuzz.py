"""Shared pieces of the property-based fuzzing: hostile text and dates, and how to send and judge them.

Every fuzz test asks the same thing of a page: whatever comes in, the answer is a 2xx, 3xx or
4xx (never a 500), and a refused input leaves the stored records as they were. They run with
whatever DATABASE_URL is set, so both passes of `make test` fuzz SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import quote

from django.db import models
from django.forms.models import model_to_dict
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Dates at and past the edges of what Python, SQLite and PostgreSQL can hold, and well-formed
# strings that are no date at all.
EXTREME_DATES = ["0001-01-01", "9999-12-31", "0000-00-00", "2030-02-30", "2031-13-01", "10000-01-01",
                 "-0001-01-01", "1969-12-31", "9999-12-31T23:59:59", "9999-12-31T23:59:59-14:00",
                 "0001-01-01T00:00:00+14:00", "2024-02-29", "12/31/9999", "Dec 31 9999", "99999999",
                 "2025-01-01\x00", "\x00"]
SPECIAL_TEXT = [
    "", " ", "\x00", "a\x00b", "%00", "\ud800", "x\udfffy", "\ud83d", "\u202e\u2066gnp.exe", "\ufeff", "\uffff",
    "\U0001f600" * 3, "e\u0301" * 20, "\r\n", "\t", "\x7f\x1b[31m", "a" * 300, "a" * 5_000, "\x00" * 1_000,
    "<script>alert(1)</script>", "'; DROP TABLE auth_user; --", "%_%", "\\", "{{7*7}}", "${jndi:ldap://x}",
    "-1", "0", "99999999999999999999", "1e309", "NaN", "on", "yes", "true", "null",
    "00000000-0000-0000-0000-000000000000", "https://a.crm.dynamics.com", "=cmd|'/c calc'!A1",
    *EXTREME_DATES,
]
# A 100 kB value, past SQLite's 50 kB limit on LIKE patterns; rarer, as it makes every example slow.
HUGE = "a" * 100_000

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.one_of(st.characters(codec="utf-8"), surrogates), max_size=200),
    st.sampled_from(SPECIAL_TEXT),
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=20), st.text(max_size=20)),
)
hostile_dates = st.one_of(st.dates().map(lambda d: d.isoformat()), st.sampled_from(EXTREME_DATES), hostile_text)
huge_or_hostile = st.one_of(hostile_text, st.just(HUGE))


def form_data(fields: Mapping[str, st.SearchStrategy]) -> st.SearchStrategy[dict]:
    """Any subset of the fields, each a value or (as a browser sends checkboxes) a list of values."""
    return st.fixed_dictionaries({}, optional={name: st.one_of(values, st.lists(values, min_size=1, max_size=3))
                                               for name, values in fields.items()})


def encode(data: Mapping[str, str | list[str]]) -> str:
    """application/x-www-form-urlencoded, as a broken or hostile client sends it: lone surrogates
    go out as their (invalid) UTF-8 bytes instead of failing in the test client."""
    pairs = []
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append(f"{_quote(name)}={_quote(item)}")
    return "&".join(pairs)


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def quote_path(segment: str) -> str:
    """A path segment with any bytes at all, percent-encoded (even the ones that are not UTF-8)."""
    return _quote(segment)


def post(client, path: str, data: Mapping[str, str | list[str]], **extra):
    return client.post(path, encode(data), content_type="application/x-www-form-urlencoded", **extra)


def get(client, path: str, data: Mapping[str, str | list[str]], **extra):
    return client.get(f"{path}?{encode(data)}", **extra)


def assert_answered(response, allowed: Callable[[int], bool] = lambda status: 200 <= status < 500) -> bytes:
    """A 2xx/3xx/4xx, never a 5xx; streamed bodies (CSV) are read, as their errors come while streaming."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert allowed(response.status_code), (response.status_code, body[:500])
    return body


def snapshot(obj: models.Model) -> dict:
    """Every stored column of a row (re-read from the database), to show a refused input changed nothing."""
    fresh = type(obj).objects.get(pk=obj.pk)
    return {field.attname: getattr(fresh, field.attname) for field in fresh._meta.concrete_fields}


def rows(model: type[models.Model], **filters) -> list[dict]:
    return [model_to_dict(row) for row in model.objects.filter(**filters).order_by("pk")]


# Fast enough to run in both passes of `make test`: the function-scoped fixtures (logged-in
# clients, a setup) are built once per test and reused by every example on purpose.
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])


def fuzz(max_examples: int) -> settings:
    return settings(FUZZ, max_examples=max_examples)
