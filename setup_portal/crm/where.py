"""The `where` language: its tree, its parser (over where_tokens.py's tokens), and its canonical text (to_where).

`where` is a small expression language over a resource's API field names:

    name = 'Contoso' and revenue > 1000000 and city in ('Paris', 'Lyon')
    email like '%@contoso.com' or not (state = 0 or createdOn >= 2025-01-01)
    parentAccountId is null and id != 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0

Comparisons `= != <> < <= > >=`, `like` / `not like`, `in` / `not in`, `is [not] null`, `and`,
`or`, `not`, parentheses; literals are strings in single quotes (`''` is a quote), numbers,
`true`/`false`, dates (`2025-01-31`), date-times (`2025-01-31T09:30:00Z`, an offset, or none for UTC)
and GUIDs (bare or quoted). Keywords ignore case; so do field names.

A tokenizer (where_tokens.py) and a recursive-descent parser build a typed tree (the dataclasses
below), checking every literal against its field's type. The tree, never the caller's text, is
rendered to `$filter` (odata.py): strings are re-quoted, every other literal is written from its parsed value. `like`
patterns become `startswith`/`endswith`/`contains` (`%` at the start and/or end only; `_`
matches any one character, as in SQL and in Dataverse); `in` becomes an `or` of `eq`.

`evaluate` (evaluate.py) gives a tree's meaning over API records in Python, with SQL's three-valued logic
(a comparison with a null field is unknown; `not unknown` is unknown; only true matches) and
case-insensitive text as in the sandbox (ASCII letters only; real Dataverse's collation also
ignores accents and the case of other letters).

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
and https://learn.microsoft.com/power-apps/developer/data-platform/wildcard-characters
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from .errors import QueryError, shorten
from .resources import Field, Resource, choice_words, format_datetime, known_names, number_range
from .where_tokens import DATE_LITERAL, DATETIME_LITERAL, GUID_LITERAL, Token, tokenize

MAX_LENGTH = 2000
MAX_DEPTH = 20
MAX_IN_ITEMS = 50
# Each condition, and each item of an `in`, is one comparison in $filter; the sandbox (like an
# OData server) refuses very large filters, so stay well under its 200.
MAX_CONDITIONS = 100
# Dataverse stores date-times from 1753-01-01 (SQL Server's datetime) to 9999-12-31.
MIN_DATE = date(1753, 1, 1)

OPERATORS = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
ORDERED_TYPES = frozenset({"string", "decimal", "int", "datetime", "date"})
Value = str | int | Decimal | bool | date | datetime | uuid.UUID

# --- the tree --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # one of OPERATORS
    value: Value


@dataclass(frozen=True)
class Like:
    field: str
    pattern: str


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class IsNull:
    field: str
    negated: bool = False


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


Node = Compare | Like | In | IsNull | And | Or | Not


# --- parsing ---------------------------------------------------------------------------------
def parse_where(text: str, resource: Resource) -> Node:
    """The typed tree of a `where` expression over `resource`; QueryError (param "where") when it is not valid."""
    if not isinstance(text, str):
        raise QueryError("where must be text.", param="where")
    if len(text) > MAX_LENGTH:
        raise QueryError(f"where is {len(text)} characters long; the limit is {MAX_LENGTH}.", param="where")
    for pos, ch in enumerate(text):
        if ch not in "\t\r\n" and unicodedata.category(ch) in {"Cc", "Cs"}:
            raise QueryError(f"where contains the character U+{ord(ch):04X} at position {pos}, which is not "
                             "allowed.", param="where")
    if not text.strip():
        raise QueryError("where is empty: leave it out to list every record.", param="where")
    return _Parser(text, resource).parse()


class _Parser:
    """expression := conjunction ('or' conjunction)* ; conjunction := unary ('and' unary)* ;
    unary := 'not' unary | '(' expression ')' | predicate ;
    predicate := field (op literal | ['not'] 'like' string | ['not'] 'in' '(' literal (',' literal)* ')'
                        | 'is' ['not'] 'null')"""

    def __init__(self, text: str, resource: Resource):
        self.resource = resource
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.conditions = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, what: str) -> QueryError:
        token = self.token
        found = "the end of the expression" if token.kind == "end" else f"'{shorten(_source(token))}'"
        return QueryError(f"Expected {what} at position {token.pos}, found {found}.", param="where")

    def parse(self) -> Node:
        node = self.expression()
        if self.token.kind != "end":
            raise self.expect("'and', 'or' or the end of the expression")
        return node

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"where is nested too deeply: at most {MAX_DEPTH} levels of parentheses and 'not'.",
                             param="where")

    def count(self, conditions: int) -> None:
        self.conditions += conditions
        if self.conditions > MAX_CONDITIONS:
            raise QueryError(f"where has too many conditions: at most {MAX_CONDITIONS} (each item of an 'in' "
                             "counts as one).", param="where")

    def expression(self) -> Node:
        parts = [self.conjunction()]
        while self.token.word == "or":
            self.advance()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conjunction(self) -> Node:
        parts = [self.unary()]
        while self.token.word == "and":
            self.advance()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        if self.token.word == "not":
            self.advance()
            self.nest()
            node: Node = Not(self.unary())
            self.depth -= 1
            return node
        if self.token.kind == "(":
            self.advance()
            self.nest()
            node = self.expression()
            if self.token.kind != ")":
                raise self.expect("')'")
            self.advance()
            self.depth -= 1
            return node
        return self.predicate()

    def predicate(self) -> Node:
        f = self.field()
        token = self.advance()
        if token.kind == "op":
            self.count(1)
            return self.comparison(f, token)
        negated = token.word == "not" and self.token.word in {"like", "in"}
        if negated:
            token = self.advance()
        if token.word == "like":
            self.count(1)
            node: Node = Like(f.name, self.pattern(f))
        elif token.word == "in":
            node = In(f.name, self.items(f))
        elif token.word == "is" and not negated:
            negated = self.token.word == "not"
            if negated:
                self.advance()
            if self.advance().word != "null":
                self.index -= 1
                raise self.expect("'null'")
            self.count(1)
            return IsNull(f.name, negated)
        else:
            self.index -= 1
            raise self.expect("a comparison (= != < <= > >=), 'like', 'in' or 'is'")
        return Not(node) if negated else node

    def field(self) -> Field:
        token = self.token
        if token.kind != "name" or token.word:
            raise self.expect("a field name")
        f = self.resource.field(token.text)
        if f is None:
            known = self.resource.field_names
            raise QueryError(f"Unknown field '{shorten(token.text)}' at position {token.pos}. "
                             f"{known_names(token.text, known, f'{self.resource.name} have')}", param="where",
                             field=token.text, known=known)
        self.advance()
        return f

    def comparison(self, f: Field, op: Token) -> Compare:
        symbol = "!=" if op.text == "<>" else op.text
        if symbol not in {"=", "!="} and f.type not in ORDERED_TYPES:
            raise QueryError(f"'{f.name}' can be compared only with = or != (or in, is null), not {symbol} "
                             f"(position {op.pos}).", param="where", field=f.name)
        return Compare(f.name, symbol, self.literal(f))

    def pattern(self, f: Field) -> str:
        token = self.advance()
        if token.kind != "string":
            self.index -= 1
            raise self.expect("a pattern in single quotes after 'like'")
        if f.type != "string":
            raise QueryError(f"'like' works on text fields; '{f.name}' is {_TYPE_WORDS[f.type]} (position "
                             f"{token.pos}).", param="where", field=f.name)
        like_function(token.text, f.name)  # refuses patterns $filter cannot express
        return token.text

    def items(self, f: Field) -> tuple[Value, ...]:
        if self.advance().kind != "(":
            self.index -= 1
            raise self.expect("'(' after 'in'")
        values = [self.literal(f)]
        while self.token.kind == ",":
            self.advance()
            values.append(self.literal(f))
            if len(values) > MAX_IN_ITEMS:
                raise QueryError(f"'in' takes at most {MAX_IN_ITEMS} values.", param="where", field=f.name)
        if self.advance().kind != ")":
            self.index -= 1
            raise self.expect("',' or ')' in the list of values")
        self.count(len(values))
        return tuple(values)

    def literal(self, f: Field) -> Value:
        token = self.token
        if token.kind not in {"string", "number", "guid", "date", "datetime"} and token.word not in {
                "true", "false", "null"}:
            raise self.expect(f"a value for '{f.name}'")
        self.advance()
        if token.word == "null":
            raise QueryError(f"Nothing equals null: write '{f.name} is null' or '{f.name} is not null' (position "
                             f"{token.pos}).", param="where", field=f.name)
        return typed_value(token, f)


def typed_value(token: Token, f: Field) -> Value:
    """The literal `token` as a value of the field's type; QueryError when it does not fit."""
    kind, text = token.kind, token.text
    value: Value | None = None
    if f.type == "string" and kind == "string":
        value = text
    elif f.choices and kind in {"number", "string"}:
        value = f.choice(text if kind == "string" else int(text) if "." not in text else None)
        if value is None:
            raise QueryError(f"'{f.name}' is a choice: one of {choice_words(f)} (the value or the label in quotes); "
                             f"{_describe(token)} at position {token.pos} is neither.", param="where", field=f.name)
    elif f.type == "decimal" and kind == "number":
        value = _decimal(token, f)
    elif f.type == "int" and kind == "number" and "." not in text:
        value = int(text)
        low, high = number_range(f)
        if not low <= value <= high:
            raise QueryError(f"{text} is out of range for '{f.name}' ({low} to {high}; position {token.pos}).",
                             param="where", field=f.name)
    elif f.type == "bool" and token.word in {"true", "false"}:
        value = token.word == "true"
    elif f.type in {"guid", "lookup"} and kind in {"guid", "string"}:
        value = _guid(token, f)
    elif f.type == "datetime" and kind in {"datetime", "date", "string"}:
        value = _moment(token, f)
    elif f.type == "date" and kind in {"date", "string"}:
        value = _day(token, f)
    if value is None:
        raise QueryError(f"'{f.name}' holds {_TYPE_WORDS[f.type]}; {_describe(token)} at position {token.pos} "
                         "does not fit.", param="where", field=f.name)
    return value


def _decimal(token: Token, f: Field) -> Decimal:
    value = Decimal(token.text)
    low, high = number_range(f)
    if not low <= value <= high or -value.as_tuple().exponent > 10:
        raise QueryError(f"{shorten(token.text)} is out of range for '{f.name}' ({low} to {high}, at most 10 "
                         f"decimals; position {token.pos}).", param="where", field=f.name)
    return value


def _guid(token: Token, f: Field) -> uuid.UUID | None:
    if token.kind == "string" and not GUID_LITERAL.fullmatch(token.text):
        return None
    return uuid.UUID(token.text)


def _day(token: Token, f: Field) -> date | None:
    if token.kind == "string" and not DATE_LITERAL.fullmatch(token.text):
        return None
    try:
        value = date.fromisoformat(token.text)
    except ValueError:
        raise QueryError(f"{shorten(token.text)} at position {token.pos} is not a real date.", param="where",
                         field=f.name) from None
    if value < MIN_DATE:
        raise QueryError(f"{token.text} is before {MIN_DATE}, the earliest date Dataverse holds (position "
                         f"{token.pos}).", param="where", field=f.name)
    return value


def _moment(token: Token, f: Field) -> datetime | None:
    """A date-time in UTC; a date alone means its midnight in UTC, as does a date-time without offset."""
    text = token.text
    if DATE_LITERAL.fullmatch(text):
        day = _day(Token("date", text, token.pos), f)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    if not DATETIME_LITERAL.fullmatch(text):
        return None
    problem = "is not a real date-time"
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is not None and moment.date() < MIN_DATE:
        moment, problem = None, f"is before {MIN_DATE}, the earliest date Dataverse holds"
    if moment is None:
        raise QueryError(f"{shorten(text)} at position {token.pos} {problem}.", param="where", field=f.name)
    return moment


def _describe(token: Token) -> str:
    if token.kind == "string":
        return f"the string '{shorten(token.text)}'"
    names = {"number": "the number", "guid": "the GUID", "date": "the date", "datetime": "the date-time"}
    return f"{names.get(token.kind, 'the value')} {shorten(token.text)}"


def _source(token: Token) -> str:
    return "'" + token.text.replace("'", "''") + "'" if token.kind == "string" else token.text


_TYPE_WORDS = {"string": "text", "decimal": "a number", "int": "a whole number", "bool": "true or false",
               "datetime": "a date-time (2025-01-31T09:30:00Z, or a date)", "date": "a date (2025-01-31)",
               "guid": "a GUID", "lookup": "a GUID (the id of the record it points to)"}


def like_function(pattern: str, field: str = "") -> tuple[str, str]:
    """(OData function or "eq", its argument) for a `like` pattern; QueryError for patterns $filter
    cannot say: `%` inside the text, `[` (a character class in Dataverse), `_` without any `%`."""
    starts = pattern.startswith("%")
    ends = pattern.endswith("%") and len(pattern) > int(starts)
    core = pattern[int(starts):len(pattern) - int(ends)]
    hint = "Use 'text%' (starts with), '%text' (ends with) or '%text%' (contains)."
    if "%" in core:
        raise QueryError(f"In a like pattern, % may stand only at the start and/or the end. {hint}", param="where",
                         field=field)
    if "[" in core:
        raise QueryError("Like patterns cannot contain '['; Dataverse would read it as a character class.",
                         param="where", field=field)
    if starts and ends:
        return "contains", core
    if starts:
        return "endswith", core
    if ends:
        return "startswith", core
    if "_" in core:
        raise QueryError(f"A like pattern with _ (any one character) needs a % too. {hint}", param="where",
                         field=field)
    return "eq", core


# --- writing a tree as `where` text (for tests, logs and examples) --------------------------------
def to_where(node: Node) -> str:
    """The canonical `where` text of a tree: parse_where(to_where(t)) == t."""
    if isinstance(node, Compare):
        return f"{node.field} {node.op} {literal(node.value)}"
    if isinstance(node, Like):
        return f"{node.field} like {quote(node.pattern)}"
    if isinstance(node, In):
        return f"{node.field} in ({', '.join(literal(v) for v in node.values)})"
    if isinstance(node, IsNull):
        return f"{node.field} is {'not ' if node.negated else ''}null"
    if isinstance(node, And | Or):
        word = " and " if isinstance(node, And) else " or "
        return word.join(f"({to_where(p)})" if isinstance(p, And | Or) else to_where(p) for p in node.parts)
    operand = node.operand
    return f"not ({to_where(operand)})" if isinstance(operand, And | Or) else f"not {to_where(operand)}"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def literal(value: Value) -> str:
    """A value as a literal; `where` and OData write them alike (strings quoted with '' for a quote,
    numbers without exponent, GUIDs bare, dates as 2025-01-31, date-times in UTC with Z)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)  # int, date, GUID (lower-case)
