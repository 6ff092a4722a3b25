"""The one error this package raises for anything a caller sent: a query option, a body or a cursor."""

from __future__ import annotations


class QueryError(ValueError):
    """A caller's mistake, answered 400 with problem details.

    `param` names what was wrong (`where`, `fields`, `orderBy`, `pageSize`, `nextPage` or `body`),
    `field` the API field concerned when there is one, and `known` the names the caller may use
    instead when the mistake was an unknown name. The message is plain words, safe to show: it
    quotes at most a short piece of what the caller sent.
    """

    def __init__(self, message: str, *, param: str, field: str | None = None, known: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.field = field
        self.known = known or []

    def __repr__(self) -> str:
        return f"QueryError({self.message!r}, param={self.param!r}, field={self.field!r})"


def shorten(text: str, limit: int = 40) -> str:
    """A piece of caller text fit for an error message: short, control characters shown escaped."""
    piece = text if len(text) <= limit else text[:limit] + "…"
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for ch in piece)
