"""A `where` tree written as OData `$filter` for the Dataverse Web API.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

from .resources import Resource
from .where import OPERATORS, And, Compare, In, IsNull, Like, Node, Not, Or, like_function, literal, quote


def to_odata(node: Node, resource: Resource) -> str:
    """`$filter` for a tree made by parse_where over the same resource."""
    if isinstance(node, Compare):
        return f"{_column(node.field, resource)} {OPERATORS[node.op]} {literal(node.value)}"
    if isinstance(node, Like):
        function, text = like_function(node.pattern, node.field)
        column = _column(node.field, resource)
        return f"{column} eq {quote(text)}" if function == "eq" else f"{function}({column},{quote(text)})"
    if isinstance(node, In):
        column = _column(node.field, resource)
        terms = [f"{column} eq {literal(v)}" for v in node.values]
        return terms[0] if len(terms) == 1 else "(" + " or ".join(terms) + ")"
    if isinstance(node, IsNull):
        return f"{_column(node.field, resource)} {'ne' if node.negated else 'eq'} null"
    if isinstance(node, And | Or):
        word = " and " if isinstance(node, And) else " or "
        return word.join(f"({to_odata(p, resource)})" if isinstance(p, And | Or) else to_odata(p, resource)
                         for p in node.parts)
    operand = node.operand
    if isinstance(operand, Not):
        # not not x is x, also for unknown (null) values; it keeps nesting within the server's limit.
        return to_odata(operand.operand, resource)
    # Always parenthesized: in OData, `not` binds tighter than `eq`.
    return f"not ({to_odata(operand, resource)})"


def _column(name: str, resource: Resource) -> str:
    f = resource.field(name)
    if f is None:
        raise ValueError(f"{name!r} is not a field of {resource.name}")  # a programming error, not the caller's
    return f.column
