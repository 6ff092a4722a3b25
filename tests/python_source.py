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
