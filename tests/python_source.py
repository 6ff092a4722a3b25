"""Parsing the code base in tests that read it (guards against other writers, imports, ...)."""

from __future__ import annotations

import ast


def parse(source: str) -> ast.Module:
    """ast.parse, tried again on CPython 3.11's spurious "AST constructor recursion depth mismatch"
    SystemError (python/cpython#106905: the AST builder's depth counter is shared, and another
    thread of the test process — a live server, the sandbox — can leave it off by some levels)."""
    for attempt in range(3):
        try:
            return ast.parse(source)
        except SystemError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def root_name(node: ast.AST) -> str | None:
    """The name a chain like `Instance.objects.filter(...).update` starts from."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def strings(node: ast.AST | None) -> set[str]:
    """Every string constant inside `node`."""
    if node is None:
        return set()
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def keyword_spread(node: ast.Call) -> bool:
    """Whether a call passes `**mapping`: which names it sets cannot be read from the code."""
    return any(k.arg is None for k in node.keywords)


def saves_after_setattr(tree: ast.AST, exempt: set[str] = frozenset()) -> list[tuple[int, str]]:
    """`x.save(...)` in a function that also sets attributes of the same `x` (any expression: `inst`,
    `job.instance`) by a variable name, `setattr(x, name, value)`: what it writes cannot be read from
    the code. Receivers whose chain starts at a name in `exempt` (rows of other models) are left out."""
    found = set()
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        calls = [n for n in ast.walk(func) if isinstance(n, ast.Call)]
        dynamic = {ast.unparse(c.args[0]) for c in calls
                   if isinstance(c.func, ast.Name) and c.func.id == "setattr" and len(c.args) == 3
                   and not isinstance(c.args[1], ast.Constant) and root_name(c.args[0]) not in exempt}
        found |= {(c.lineno, ast.unparse(c.func.value)) for c in calls
                  if isinstance(c.func, ast.Attribute) and c.func.attr == "save"
                  and ast.unparse(c.func.value) in dynamic}
    return sorted(found)


# For the guards' own tests: saves after setattr() by a variable name, on any receiver. The guards
# must find lines 5 and 11 and nothing else.
SETATTR_WRITES = """
def copy(row, fields):
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()


def copy_to_job_instance(job, fields):
    for name in fields:
        setattr(job.instance, name, fields[name])
    job.instance.save(update_fields=list(fields))


def only_sets(row, name):
    setattr(row, name, 1)
    other.save()


def by_a_literal_name(row):
    setattr(row, "name", "x")
    row.save()
"""
SETATTR_WRITE_LINES = ["5", "11"]
