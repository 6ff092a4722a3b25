"""Hypothesis strategies for `where` trees over a resource, optionally steered by real field values
(so that comparisons hit rows in the differential test instead of matching nothing)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from setup_portal.crm.resources import Field, Resource
from setup_portal.crm.where import ORDERED_TYPES, And, Compare, In, IsNull, Like, Not, Or

# Text that has broken query languages before: quotes, OData words, wildcards, unicode.
AWKWARD_TEXT = ["", "'", "''", "a'b", "O'Brien", "Margie's", ")", "(", " or 1 eq 1", "') or (name ne '",
                "x' or accountid ne null or name eq 'y", "_", "\\", "&", "+", "#", "?", "/", "é", "É", "Straße",
                "日本", "\U0001f600", "e\u0301", "  ", "\t", "%20", "null", "true"]
# Injection attempts: each is refused, or read as data (the strings end up as literals, nothing more).
INJECTIONS = [
    "name = 'x'' or 1 eq 1 or name eq ''y'",
    "name = 'x' or 1 eq 1",
    "name = 'x' or 1 = 1",
    "name = 'x' or '1' = '1'",
    "name = '') or (name ne ''",
    "name = 'x') or (name ne '",
    "name = ''') or (name ne '''",
    "name like '%'') or contains(name,''%'",
    "name = 'x' or accountid ne null",
    "id = 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0) or (1 eq 1",
    "name = '\u2019 or 1 eq 1 \u2019'",
    "name = 'a'%20or%201%20eq%201",
    "name = 'a' /* */",
    "name = 'a' & $filter=name ne null",
    "name = 'a&$top=1'",
    "name = 'a#b?c=d'",
    "name = '\\' or 1 eq 1 or name eq \\''",
    "city in ('a'') or (1 eq 1', 'b')",
    "name = 'x\x00' or 1 = 1",
    "name = 'Margie''s Travel'",
]

plain_text = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)


def _cases(text: str) -> list[str]:
    return [text, text.upper(), text.lower()]


def string_values(samples: list[str]) -> st.SearchStrategy[str]:
    arbitrary = plain_text | st.sampled_from(AWKWARD_TEXT)
    if not samples:
        return arbitrary
    return _mostly(st.sampled_from(samples).flatmap(lambda s: st.sampled_from(_cases(s))), arbitrary)


def _mostly(real: st.SearchStrategy, arbitrary: st.SearchStrategy) -> st.SearchStrategy:
    """Three in four values from the data (so conditions match some rows), one arbitrary."""
    return st.one_of(real, real, real, arbitrary)


def like_patterns(samples: list[str]) -> st.SearchStrategy[str]:
    """Patterns the language accepts: text%, %text, %text%, exact text; sometimes with _ for one character."""
    pieces = st.one_of(
        [st.sampled_from(samples).flatmap(lambda s: st.tuples(st.integers(0, len(s)), st.integers(0, len(s)))
                                          .map(lambda ij, s=s: s[min(ij):max(ij)]))] * (3 if samples else 0)
        + [plain_text, st.sampled_from(AWKWARD_TEXT)]
    ).map(lambda t: t.replace("%", "").replace("[", ""))

    def shape(core: str, form: str, blank: int | None) -> str:
        if blank is not None and core and form != "exact":
            index = blank % len(core)
            core = core[:index] + "_" + core[index + 1:]
        if form == "exact":
            return core.replace("_", "")
        return {"prefix": f"{core}%", "suffix": f"%{core}", "infix": f"%{core}%"}[form]

    return st.builds(shape, pieces, st.sampled_from(["prefix", "suffix", "infix", "exact"]),
                     st.none() | st.integers(0, 50))


def values_for(f: Field, samples: list, *, whole_seconds: bool) -> st.SearchStrategy:
    """Literals of the field's type: real values of the field (when given), near them, and arbitrary ones."""
    kind = f.type
    if f.choices:  # a choice column (from the metadata): its values, or its labels in any case
        labels = [label for _, label in f.choices if label]
        by_label = st.sampled_from(labels).flatmap(lambda s: st.sampled_from(_cases(s))) if labels else st.nothing()
        return st.sampled_from([value for value, _ in f.choices]) | by_label
    if kind == "string":
        return string_values([s for s in samples if isinstance(s, str)])
    if kind == "bool":
        return st.booleans()
    real = st.sampled_from(samples) if samples else st.nothing()
    if kind in {"guid", "lookup"}:
        arbitrary = st.uuids()
    elif kind == "int":
        real = real.flatmap(lambda v: st.integers(v - 2, v + 2))
        arbitrary = st.integers(-(2**31), 2**31 - 1) | st.integers(-3, 40)
    elif kind == "decimal":
        arbitrary = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
    elif kind == "date":
        real = real.flatmap(lambda d: st.integers(-3, 3).map(lambda n: d + timedelta(days=n)))
        arbitrary = st.dates(min_value=date(1753, 1, 1), max_value=date(9999, 12, 31))
    else:
        real = real.flatmap(lambda m: st.integers(-2, 2).map(lambda n: m + timedelta(seconds=n)))
        arbitrary = st.datetimes(min_value=datetime(1753, 1, 2), max_value=datetime(9999, 12, 30),
                                 timezones=st.just(UTC))
        if whole_seconds:
            arbitrary = arbitrary.map(lambda m: m.replace(microsecond=0))
    return _mostly(real, arbitrary) if samples else arbitrary


def predicates(resource: Resource, samples: dict[str, list] | None = None, *,
               whole_seconds: bool = False) -> st.SearchStrategy:
    samples = samples or {}
    options = []
    for f in resource.fields:
        values = values_for(f, samples.get(f.name, []), whole_seconds=whole_seconds)
        ops = ["=", "!=", "<", "<=", ">", ">="] if f.type in ORDERED_TYPES else ["=", "!="]
        options.append(st.builds(Compare, st.just(f.name), st.sampled_from(ops), values))
        options.append(st.builds(In, st.just(f.name), st.lists(values, min_size=1, max_size=4).map(tuple)))
        options.append(st.builds(IsNull, st.just(f.name), st.booleans()))
        if f.type == "string":
            options.append(st.builds(Like, st.just(f.name),
                                     like_patterns([s for s in samples.get(f.name, []) if isinstance(s, str)])))
    return st.one_of(options)


def trees(resource: Resource, samples: dict[str, list] | None = None, *, whole_seconds: bool = False,
          max_leaves: int = 8) -> st.SearchStrategy:
    """Trees as parse_where builds them: and/or with two or more parts, not, and the predicates."""
    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        parts = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.builds(And, parts) | st.builds(Or, parts) | st.builds(Not, children)

    return st.recursive(predicates(resource, samples, whole_seconds=whole_seconds), extend, max_leaves=max_leaves)


def field_samples(resource: Resource, records: list[dict], per_field: int = 40) -> dict[str, list]:
    """Up to `per_field` distinct values of each field in the records, as literals of its type."""
    out: dict[str, list] = {}
    spread = records[::max(1, len(records) // 200)]
    for f in resource.fields:
        seen: list = []
        for record in spread:
            value = record.get(f.name)
            if value is None:
                continue
            value = _literal(f, value)
            if value not in seen:
                seen.append(value)
            if len(seen) >= per_field:
                break
        out[f.name] = seen
    return out


def _literal(f: Field, value: object) -> object:
    if f.type == "decimal":
        return Decimal(str(value))
    if f.type in {"guid", "lookup"}:
        return uuid.UUID(value)
    if f.type == "datetime":
        return datetime.fromisoformat(value).astimezone(UTC)
    if f.type == "date":
        return date.fromisoformat(value)
    return value
