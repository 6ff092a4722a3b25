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
