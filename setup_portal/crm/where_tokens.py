"""The `where` language's tokens: names, operators, punctuation and typed literals, with their positions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from setup_portal.text import GUID_TEXT

from .errors import QueryError, shorten

KEYWORDS = frozenset({"and", "or", "not", "like", "in", "is", "null", "true", "false"})


@dataclass(frozen=True)
class Token:
    kind: str  # name string number guid date datetime op ( ) , end
    text: str  # for strings: the value, quotes undone
    pos: int

    @property
    def word(self) -> str:
        """The keyword this token is, lower-cased, or ''."""
        return self.text.lower() if self.kind == "name" and self.text.lower() in KEYWORDS else ""


# [0-9], not \d: \d also matches other scripts' digits.
GUID_LITERAL = re.compile(GUID_TEXT)
DATETIME_LITERAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
                       r"(?:Z|[+-][0-9]{2}:[0-9]{2})?")
DATE_LITERAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OP = re.compile(r"<=|>=|!=|<>|=|<|>")
# Tried in this order; a literal must not run on into letters or digits (`5abc`, `2025-01-01t10:00`).
_LITERALS = (("guid", GUID_LITERAL), ("datetime", DATETIME_LITERAL), ("date", DATE_LITERAL), ("number", _NUMBER))
_RUNS_ON = re.compile(r"[A-Za-z0-9_.:-]")
_WORD = re.compile(r"[^\s(),']+")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch in " \t\r\n":
            pos += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, pos))
            pos += 1
        elif ch == "'":
            value, end = _string(text, pos)
            tokens.append(Token("string", value, pos))
            pos = end
        else:
            token = _lexeme(text, pos)
            tokens.append(token)
            pos += len(token.text)
    tokens.append(Token("end", "", len(text)))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    """A single-quoted string from `start`; two quotes stand for one."""
    chars, pos = [], start + 1
    while pos < len(text):
        if text[pos] == "'":
            if text.startswith("''", pos):
                chars.append("'")
                pos += 2
                continue
            return "".join(chars), pos + 1
        chars.append(text[pos])
        pos += 1
    raise QueryError(f"The string that starts at position {start} has no closing quote (write '' for a quote "
                     "inside a string).", param="where")


def _lexeme(text: str, pos: int) -> Token:
    for kind, pattern in _LITERALS:
        match = pattern.match(text, pos)
        if match and not _RUNS_ON.match(text, match.end()):
            return Token(kind, match.group(), pos)
    for kind, pattern in (("name", _NAME), ("op", _OP)):
        match = pattern.match(text, pos)
        if match:
            return Token(kind, match.group(), pos)
    if text[pos] == '"':
        raise QueryError(f'Strings are written in single quotes, not double quotes (position {pos}).', param="where")
    if text[pos].isdigit():
        word = _WORD.match(text, pos).group()
        raise QueryError(f"'{shorten(word, 30)}' at position {pos} is not a number, date, date-time or "
                         "GUID this language reads (dates look like 2025-01-31, date-times like "
                         "2025-01-31T09:30:00Z).", param="where")
    raise QueryError(f"Unexpected character '{shorten(text[pos])}' at position {pos}.", param="where")
