"""`$filter` and `$orderby`: a tokenizer, a recursive-descent parser and a compiler to SQL.

Supported, as in Dataverse: comparison operators `eq ne gt ge lt le`, logical `and or not`,
parentheses, the OData functions `contains`, `startswith`, `endswith`, and literals `null`,
`true`, `false`, numbers, GUIDs, dates, date-times and single-quoted strings (`''` is a
quote). A property may be compared with a literal or with another property of the same type.
String comparisons are case-insensitive. Everything the caller writes becomes a bound
parameter; column names come from the table's schema only.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from .errors import DataverseError, bad_query, unknown_property
from .schema import NUMBER_KINDS, STRING_KINDS, Column, Table

MAX_DEPTH = 40
MAX_NODES = 200
INT64 = 2**63
COMPARISONS = {"eq": ("=", "Equal"), "ne": ("<>", "NotEqual"), "gt": (">", "GreaterThan"),
               "ge": (">=", "GreaterThanOrEqual"), "lt": ("<", "LessThan"), "le": ("<=", "LessThanOrEqual")}
FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
FUNCTIONS = {"contains": ("%", "%"), "startswith": ("", "%"), "endswith": ("%", "")}
KEYWORDS = frozenset({"and", "or", "not", "null", "true", "false", *COMPARISONS})

# Lexeme shapes of literals that begin like numbers or names (tried in this order).
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")


@dataclass(frozen=True)
class Token:
    kind: str  # ( ) , name string number guid datetime date end
    value: object
    pos: int


class Tokenizer:
    def __init__(self, text: str):
        self.text = text

    def error(self, message: str) -> DataverseError:
        return bad_query(f"{message} in '{self.text}'.")

    def tokens(self) -> list[Token]:
        text, pos, out = self.text, 0, []
        while pos < len(text):
            ch = text[pos]
            if ch in " \t\r\n":
                pos += 1
            elif ch in "(),":
                out.append(Token(ch, ch, pos))
                pos += 1
            elif ch == "'":
                value, end = self._string(pos)
                out.append(Token("string", value, pos))
                pos = end
            else:
                token, pos = self._literal_or_name(pos)
                out.append(token)
        out.append(Token("end", None, len(text)))
        return out

    def _string(self, start: int) -> tuple[str, int]:
        """A single-quoted string; two quotes stand for one."""
        text, pos, chars = self.text, start + 1, []
        while pos < len(text):
            if text[pos] == "'":
                if text[pos + 1:pos + 2] == "'":
                    chars.append("'")
                    pos += 2
                    continue
                return "".join(chars), pos + 1
            chars.append(text[pos])
            pos += 1
        raise self.error(f"There is an unterminated literal at position {start}")

    def _literal_or_name(self, pos: int) -> tuple[Token, int]:
        text = self.text
        for kind, pattern in (("guid", _GUID), ("datetime", _DATETIME), ("date", _DATE), ("number", _NUMBER),
                              ("name", _NAME)):
            match = pattern.match(text, pos)
            if match and not _NAME_CHAR.match(text, match.end()):
                return Token(kind, match.group(), pos), match.end()
        raise self.error(f"Syntax error: character '{text[pos]}' is not valid at position {pos}")


# --- the syntax tree ---------------------------------------------------------------------
@dataclass(frozen=True)
class Prop:
    name: str
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string int decimal guid datetime date bool null
    value: object
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Prop | Literal
    right: Prop | Literal
    pos: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple
    pos: int


@dataclass(frozen=True)
class Logical:
    op: str  # and / or
    parts: tuple


@dataclass(frozen=True)
class Not:
    operand: object


class Parser:
    """expr := and ('or' and)* ; and := unary ('and' unary)* ; unary := 'not' unary | primary ;
    primary := '(' expr ')' | function '(' operand ',' operand ')' | operand op operand"""

    def __init__(self, text: str):
        self.text = text
        self.tokenizer = Tokenizer(text)
        self.tokens = self.tokenizer.tokens()
        self.index = 0
        self.depth = 0
        self.nodes = 0

    # -- helpers
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_word(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.value == word

    def error(self, pos: int | None = None) -> DataverseError:
        return self.tokenizer.error(f"Syntax error at position {self.token.pos if pos is None else pos}")

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise bad_query(f"The $filter expression is too complex: more than {MAX_NODES} conditions.")

    # -- grammar
    def parse(self) -> object:
        if self.token.kind == "end":
            raise self.tokenizer.error("Expression expected at position 0")
        node = self.expression()
        if self.token.kind != "end":
            raise self.error()
        return node

    def expression(self) -> object:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise bad_query(f"The $filter expression is nested too deeply (more than {MAX_DEPTH} levels).")
        parts = [self.conjunction()]
        while self.is_word("or"):
            self.advance()
            parts.append(self.conjunction())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else Logical("or", tuple(parts))

    def conjunction(self) -> object:
        parts = [self.unary()]
        while self.is_word("and"):
            self.advance()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))

    def unary(self) -> object:
        if self.is_word("not"):
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise bad_query(f"The $filter expression is nested too deeply (more than {MAX_DEPTH} levels).")
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> object:
        token = self.token
        if token.kind == "(":
            self.advance()
            node = self.expression()
            if self.token.kind != ")":
                raise self.error()
            self.advance()
            return node
        if token.kind == "name" and token.value in FUNCTIONS and self.tokens[self.index + 1].kind == "(":
            return self.call()
        self.count()
        left = self.operand()
        op = self.token
        if op.kind != "name" or op.value not in COMPARISONS:
            raise self.error()
        self.advance()
        return Compare(str(op.value), left, self.operand(), op.pos)

    def call(self) -> Call:
        self.count()
        name = self.advance()
        self.advance()  # (
        args = [self.operand()]
        while self.token.kind == ",":
            self.advance()
            args.append(self.operand())
        if self.token.kind != ")":
            raise self.error()
        self.advance()
        return Call(str(name.value), tuple(args), name.pos)

    def operand(self) -> Prop | Literal:
        token = self.advance()
        if token.kind == "name":
            word = str(token.value)
            if word == "null":
                return Literal("null", None, token.pos)
            if word in {"true", "false"}:
                return Literal("bool", word == "true", token.pos)
            if word in KEYWORDS or word in FUNCTIONS:
                raise self.error(token.pos)
            return Prop(word, token.pos)
        if token.kind == "string":
            return Literal("string", token.value, token.pos)
        if token.kind == "number":
            return self._number(token)
        if token.kind == "guid":
            return Literal("guid", str(token.value).lower(), token.pos)
        if token.kind == "datetime":
            return Literal("datetime", self._datetime(token), token.pos)
        if token.kind == "date":
            try:
                return Literal("date", date.fromisoformat(str(token.value)), token.pos)
            except ValueError:
                raise self.tokenizer.error(f"The date '{token.value}' at position {token.pos} is not valid") from None
        raise self.error(token.pos)

    def _number(self, token: Token) -> Literal:
        raw = str(token.value)
        if "." not in raw and "e" not in raw.lower():
            value = int(raw)
            if not -INT64 <= value < INT64:
                raise self.tokenizer.error(f"The number '{raw}' at position {token.pos} is too large")
            return Literal("int", value, token.pos)
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise self.error(token.pos) from None
        # adjusted() reads the exponent without arithmetic, which could overflow the context.
        if not number.is_finite() or number.adjusted() > 28:
            raise self.tokenizer.error(f"The number '{raw}' at position {token.pos} is out of range")
        return Literal("decimal", float(number), token.pos)

    def _datetime(self, token: Token) -> datetime:
        try:
            value = datetime.fromisoformat(str(token.value))
        except ValueError:
            raise self.tokenizer.error(f"The date-time '{token.value}' at position {token.pos} is not valid") from None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise self.tokenizer.error(f"The date-time '{token.value}' at position {token.pos} is out of range") \
                from None


def parse_filter(text: str) -> object:
    return Parser(text).parse()


# --- compiling to SQL ----------------------------------------------------------------------
def stamp(value: datetime) -> str:
    """How date-times are stored and returned: UTC, whole seconds, ISO 8601 with Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Compiler:
    def __init__(self, table: Table):
        self.table = table
        self.params: list = []

    def column(self, prop: Prop) -> Column:
        if "/" in prop.name:
            raise bad_query(f"Filtering on related rows ('{prop.name}') is not supported by the sandbox; "
                            "filter on the lookup value, for example _parentcustomerid_value eq <guid>.")
        column = self.table.column(prop.name)
        if column is None:
            raise unknown_property(prop.name, self.table.odata_type)
        return column

    def compile(self, node: object) -> str:
        if isinstance(node, Logical):
            return "(" + f" {node.op.upper()} ".join(self.compile(p) for p in node.parts) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.operand)})"
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Compare):
            return self.compare(node)
        raise bad_query("The $filter expression is not valid.")  # pragma: no cover - parser yields only these

    def compare(self, node: Compare) -> str:
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Literal) and isinstance(right, Prop):
            left, right, op = right, left, FLIPPED[op]
        if not isinstance(left, Prop):
            raise bad_query(f"The comparison at position {node.pos} in $filter must name a column.")
        column = self.column(left)
        sql_op, kind_name = COMPARISONS[op]
        if isinstance(right, Prop):
            other = self.column(right)
            if other.edm_type != column.edm_type:
                raise _incompatible(column.edm_type, other.edm_type, kind_name)
            collate = " COLLATE NOCASE" if column.kind in STRING_KINDS else ""
            return f'("{column.name}" {sql_op} "{other.name}"{collate})'
        if right.kind == "null":
            if op == "eq":
                return f'("{column.name}" IS NULL)'
            if op == "ne":
                return f'("{column.name}" IS NOT NULL)'
            return "(0)"
        self.params.append(self.value(column, right, kind_name))
        collate = " COLLATE NOCASE" if column.kind in STRING_KINDS else ""
        return f'("{column.name}" {sql_op} ?{collate})'

    def call(self, node: Call) -> str:
        signature = (f"No function signature for the function with name '{node.name}' matches the specified "
                     f"arguments. The function signatures considered are: {node.name}(Edm.String Nullable=true, "
                     "Edm.String Nullable=true).")
        if len(node.args) != 2 or not isinstance(node.args[0], Prop) or not isinstance(node.args[1], Literal):
            raise bad_query(signature)
        column = self.column(node.args[0])
        literal = node.args[1]
        if column.kind not in STRING_KINDS or literal.kind not in {"string", "null"}:
            raise bad_query(signature)
        if literal.kind == "null":
            return "(0)"
        # Dataverse passes % and _ in the value through as wildcards; so does SQLite's LIKE.
        before, after = FUNCTIONS[node.name]
        self.params.append(f"{before}{literal.value}{after}")
        return f'("{column.name}" LIKE ?)'

    def value(self, column: Column, literal: Literal, kind_name: str) -> object:
        kind = column.kind
        if kind in STRING_KINDS and literal.kind == "string":
            return literal.value
        if kind in NUMBER_KINDS and literal.kind in {"int", "decimal"}:
            return literal.value
        if kind == "bool" and literal.kind == "bool":
            return int(bool(literal.value))
        if kind in {"guid", "lookup"}:
            if literal.kind == "guid":
                return literal.value
            if literal.kind == "string":
                try:
                    return str(uuid.UUID(str(literal.value)))
                except ValueError:
                    pass
        if kind == "datetime" and literal.kind in {"datetime", "date"}:
            value = literal.value
            if isinstance(value, datetime):
                return stamp(value)
            return f"{value.isoformat()}T00:00:00Z"
        if kind == "date" and literal.kind in {"datetime", "date"}:
            value = literal.value
            return (value.date() if isinstance(value, datetime) else value).isoformat()
        raise _incompatible(column.edm_type, _LITERAL_TYPES[literal.kind], kind_name)


_LITERAL_TYPES = {"string": "Edm.String", "int": "Edm.Int32", "decimal": "Edm.Decimal", "guid": "Edm.Guid",
                  "datetime": "Edm.DateTimeOffset", "date": "Edm.Date", "bool": "Edm.Boolean", "null": "null"}


def _incompatible(left: str, right: str, kind_name: str) -> DataverseError:
    return bad_query(f"A binary operator with incompatible types was detected. Found operand types '{left}' and "
                     f"'{right}' for operator kind '{kind_name}'.")


def compile_filter(text: str, table: Table) -> tuple[str, list]:
    """SQL for a WHERE clause and its parameters; DataverseError (400) for anything not valid."""
    compiler = Compiler(table)
    sql = compiler.compile(parse_filter(text))
    return sql, compiler.params


def compile_orderby(text: str, table: Table) -> list[tuple[Column, bool]]:
    """`name desc, createdon` -> [(column, descending), ...]."""
    tokenizer = Tokenizer(text)
    tokens = tokenizer.tokens()
    order: list[tuple[Column, bool]] = []
    index = 0
    while True:
        token = tokens[index]
        if token.kind != "name" or "/" in str(token.value):
            raise tokenizer.error(f"Syntax error at position {token.pos}")
        column = table.column(str(token.value))
        if column is None:
            raise unknown_property(str(token.value), table.odata_type)
        index += 1
        descending = False
        if tokens[index].kind == "name" and tokens[index].value in {"asc", "desc"}:
            descending = tokens[index].value == "desc"
            index += 1
        order.append((column, descending))
        if tokens[index].kind == "end":
            return order
        if tokens[index].kind != ",":
            raise tokenizer.error(f"Syntax error at position {tokens[index].pos}")
        index += 1
