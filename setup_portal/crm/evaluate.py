"""`evaluate`: what a `where` tree means over API records, in Python (the differential tests' oracle).

SQL's three-valued logic (a comparison with a null field is unknown; `not unknown` is unknown; only
true matches) and case-insensitive text as in the sandbox (ASCII letters only; real Dataverse's
collation also ignores accents and the case of other letters).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from .resources import Field, Resource
from .where import And, Compare, In, IsNull, Node, Not, Or, Value, like_function


def evaluate(node: Node, record: dict, resource: Resource) -> bool:
    """Whether an API record (as to_record gives it) matches the tree; a field missing from it counts as null."""
    return _truth(node, record, resource) is True


def _truth(node: Node, record: dict, resource: Resource) -> bool | None:
    """True, False or None (unknown), as SQL and Dataverse decide."""
    if isinstance(node, And):
        results = [_truth(p, record, resource) for p in node.parts]
        return False if False in results else (None if None in results else True)
    if isinstance(node, Or):
        results = [_truth(p, record, resource) for p in node.parts]
        return True if True in results else (None if None in results else False)
    if isinstance(node, Not):
        result = _truth(node.operand, record, resource)
        return None if result is None else not result
    f = resource.field(node.field)
    value = _record_value(record.get(f.name), f)
    if isinstance(node, IsNull):
        return (value is not None) if node.negated else (value is None)
    if value is None:
        return None
    if isinstance(node, Compare):
        return _compare(value, node.op, _comparable(node.value))
    if isinstance(node, In):
        return any(value == _comparable(v) for v in node.values)
    function, text = like_function(node.pattern, node.field)
    text = _fold(text)
    if function == "eq":
        return value == text
    regex = "".join("." if ch == "_" else re.escape(ch) for ch in text)
    regex = {"startswith": f"{regex}.*", "endswith": f".*{regex}", "contains": f".*{regex}.*"}[function]
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _compare(left: object, op: str, right: object) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _comparable(value: Value) -> object:
    return _fold(value) if isinstance(value, str) else value


def _record_value(value: object, f: Field) -> object:
    """An API record's JSON value as a Python value comparable with a literal of the field's type."""
    if value is None:
        return None
    if f.type == "string":
        return _fold(str(value))
    if f.type == "decimal":
        return Decimal(str(value))
    if f.type in {"guid", "lookup"}:
        return uuid.UUID(str(value))
    if f.type == "datetime":
        moment = datetime.fromisoformat(str(value))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if f.type == "date":
        return date.fromisoformat(str(value)[:10])
    return value
