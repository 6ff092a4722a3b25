"""Reading our `$filter` back with an independent OData parser: the sandbox's own.

If a caller's text could change the meaning of a filter, the OData parser would see other
conditions or other string values than the tree we rendered. `assert_same_meaning` checks both:
the same number of comparisons, and the same strings, in the same order. It also compiles the
filter against the sandbox's schema, which checks every column name and literal type.
"""

from __future__ import annotations

from setup_portal.crm.odata import to_odata
from setup_portal.crm.resources import Resource
from setup_portal.crm.where import And, Compare, In, IsNull, Like, Node, Not, Or, like_function
from setup_portal.sandbox.data import odata_filter as sandbox_odata
from setup_portal.sandbox.data.schema import TABLES


def sandbox_view(filter_text: str) -> tuple[int, list[str]]:
    """(comparisons and function calls, string literals in order) as the sandbox's parser reads them."""
    strings: list[str] = []
    count = 0

    def walk(node: object) -> None:
        nonlocal count
        if isinstance(node, sandbox_odata.Logical):
            for part in node.parts:
                walk(part)
        elif isinstance(node, sandbox_odata.Not):
            walk(node.operand)
        else:
            count += 1
            operands = node.args if isinstance(node, sandbox_odata.Call) else (node.left, node.right)
            strings.extend(o.value for o in operands if isinstance(o, sandbox_odata.Literal) and o.kind == "string")

    walk(sandbox_odata.parse_filter(filter_text))
    return count, strings


def our_view(node: Node) -> tuple[int, list[str]]:
    """The same, from our tree: what the filter must say."""
    if isinstance(node, And | Or):
        views = [our_view(p) for p in node.parts]
        return sum(v[0] for v in views), [s for v in views for s in v[1]]
    if isinstance(node, Not):
        return our_view(node.operand)
    if isinstance(node, Compare):
        return 1, [node.value] if isinstance(node.value, str) else []
    if isinstance(node, In):
        return len(node.values), [v for v in node.values if isinstance(v, str)]
    if isinstance(node, Like):
        return 1, [like_function(node.pattern)[1]]
    assert isinstance(node, IsNull)
    return 1, []


def assert_same_meaning(node: Node, resource: Resource) -> str:
    """The rendered filter, after checking the sandbox reads exactly our conditions and strings from it."""
    odata = to_odata(node, resource)
    sandbox_odata.compile_filter(odata, TABLES[resource.entity_set])
    assert sandbox_view(odata) == our_view(node), odata
    return odata
