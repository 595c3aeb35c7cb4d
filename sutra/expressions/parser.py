"""Expressions into syntax trees: goflow's excellent grammar, plus the EEx Glific evaluates.

Precedence, loosest first, as in goflow's grammar: anonymous functions ``(x) => ...``, ``&``,
``=`` ``!=``, ``<`` ``<=`` ``>`` ``>=``, ``+`` ``-``, ``*`` ``/``, ``^`` (left to right, as
goflow's is), unary ``-``, then lookups ``a.b``, ``a["b"]``, ``a[0]`` and calls ``f(x)`` on any
atom. For Glific's EEx snippets (``<%= rem(@results.x, 2) == 0 and ... %>``) the parser also
takes ``==``, ``<>`` (concatenation), ``and``/``&&``, ``or``/``||``, ``not``/``!``, names
written with ``@`` and single-quoted text; goflow has none of these.

Parsing is linear in the source and bounded: nesting beyond :data:`MAX_DEPTH` is a syntax
error, so evaluating the tree never recurses deeply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sutra.expressions.values import ErrorValue, parse_number


class ExpressionError(ValueError):
    """A syntax error, or a failure inside the interpreter; it never escapes: the expression
    evaluates to an :class:`ErrorValue` instead."""


MAX_DEPTH = 50
# A tree this deep is refused: "1 + 1 + ... + 1" with hundreds of terms is not a flow's.
MAX_TREE_DEPTH = 100

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>@?[^\W\d]\w*(?:\.\w+)*)
  | (?P<op>=>|<=|>=|==|!=|<>|&&|\|\||[-+*/^<>=&(),!\[\].])
    """,
    re.VERBOSE,
)

# Binary operators by how tightly they bind.
PRECEDENCE = {
    "or": 1,
    "||": 1,
    "and": 2,
    "&&": 2,
    "&": 3,
    "=": 4,
    "==": 4,
    "!=": 4,
    "<": 5,
    "<=": 5,
    ">": 5,
    ">=": 5,
    "<>": 6,
    "+": 7,
    "-": 7,
    "*": 8,
    "/": 8,
    "^": 9,
}
_WORD_OPERATORS = {"and", "or"}
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "nil": None}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Node:
    depth: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True, slots=True)
class Name(Node):
    """``contact.fields.age``: a name, then lookups of the dotted segments."""

    segments: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Member(Node):
    """``target.key`` or ``target[key]``."""

    target: Node
    key: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    callee: Node
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """Prefix operators, innermost last: ``- - 1`` is one node, however many signs."""

    ops: tuple[str, ...]
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Lambda(Node):
    params: tuple[str, ...]
    body: Node


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {source[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group()))
        pos = match.end()
    return tokens


def parse(source: str) -> Node:
    """The syntax tree of one expression.

    >>> parse("1 + 2 * 3")  # doctest: +ELLIPSIS
    Binary(depth=3, op='+', left=Literal(...), right=Binary(depth=2, op='*', ...))
    """
    return _Parser(tokenize(source)).parse()


def _deeper(*nodes: Node) -> int:
    depth = 1 + max(node.depth for node in nodes)
    if depth > MAX_TREE_DEPTH:
        raise ExpressionError("expression nests too deeply")
    return depth


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.nesting = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("empty expression")
        node = self.expression(0)
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos].text!r}")
        return node

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text == text

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and (token.kind != "op" or token.text != text)):
            raise ExpressionError(f"expected {text or 'a value'}")
        self.pos += 1
        return token

    def binary_op(self) -> str | None:
        token = self.peek()
        if token is None:
            return None
        if token.kind == "op":
            return token.text if token.text in PRECEDENCE else None
        lowered = token.text.lower()
        return lowered if token.kind == "name" and lowered in _WORD_OPERATORS else None

    def expression(self, min_precedence: int) -> Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExpressionError("expression nests too deeply")
        if self.lambda_ahead():
            node = self.lambda_()
        else:
            node = self.unary()
            while True:
                op = self.binary_op()
                if op is None or PRECEDENCE[op] < min_precedence:
                    break
                self.pos += 1
                right = self.expression(PRECEDENCE[op] + 1)
                node = Binary(_deeper(node, right), op, node, right)
        self.nesting -= 1
        return node

    def lambda_ahead(self) -> bool:
        # "(" NAME ("," NAME)* ")" "=>": only then is a parenthesis an anonymous function.
        if not self.at("("):
            return False
        i = 1
        while True:
            name = self.peek(i)
            if name is None or name.kind != "name" or "." in name.text:
                return False
            after = self.peek(i + 1)
            if after is None or after.kind != "op":
                return False
            if after.text == ")":
                arrow = self.peek(i + 2)
                return arrow is not None and arrow.kind == "op" and arrow.text == "=>"
            if after.text != ",":
                return False
            i += 2

    def lambda_(self) -> Node:
        self.take("(")
        params = [self.take().text.lower()]
        while self.at(","):
            self.pos += 1
            params.append(self.take().text.lower())
        self.take(")")
        self.take("=>")
        body = self.expression(0)
        return Lambda(_deeper(body), tuple(params), body)

    def unary(self) -> Node:
        # Prefix operators are collected in a loop, not by recursion: "- - - ... 1" with
        # thousands of signs costs one step each and no stack.
        prefixes: list[str] = []
        while True:
            token = self.peek()
            if token is None:
                raise ExpressionError("expected a value")
            if token.kind == "op" and token.text in ("-", "+", "!"):
                prefixes.append(token.text)
            elif token.kind == "name" and token.text.lower() == "not" and not self.call_next():
                prefixes.append("!")
            else:
                break
            self.pos += 1
        node = self.postfix(self.primary())
        return Unary(_deeper(node), tuple(prefixes), node) if prefixes else node

    def call_next(self) -> bool:
        after = self.peek(1)
        return after is not None and after.kind == "op" and after.text == "("

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "op" and token.text == "(":
            node = self.expression(0)
            self.take(")")
            return node
        if token.kind == "number":
            number = parse_number(token.text)
            value = number if number is not None else ErrorValue("number value out of range")
            return Literal(1, value)
        if token.kind == "string":
            return Literal(1, unquote(token.text))
        if token.kind == "name":
            lowered = token.text.lower()
            if lowered in _LITERALS:
                return Literal(1, _LITERALS[lowered])
            segments = tuple(token.text.lstrip("@").split("."))
            return Name(1, segments, token.text)
        raise ExpressionError(f"unexpected {token.text!r}")

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("("):
                self.pos += 1
                args: list[Node] = []
                if not self.at(")"):
                    args.append(self.expression(0))
                    while self.at(","):
                        self.pos += 1
                        args.append(self.expression(0))
                self.take(")")
                node = Call(_deeper(node, *args), node, tuple(args))
            elif self.at("["):
                self.pos += 1
                key = self.expression(0)
                self.take("]")
                node = Member(_deeper(node, key), node, key)
            elif self.at("."):
                self.pos += 1
                segment = self.take()
                if segment.kind not in ("name", "number") or segment.text.startswith("@"):
                    raise ExpressionError(f"unexpected {segment.text!r} after '.'")
                for part in segment.text.split("."):
                    key = Literal(1, part)
                    node = Member(_deeper(node), node, key)
            else:
                return node


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_HEX_ESCAPE = {"x": 2, "u": 4, "U": 8}


def unquote(literal: str) -> str:
    """A text literal's value: Go's escapes (``\\n``, ``\\u00a9``...) are read as goflow reads
    them; a literal with an escape Go does not know is kept as written (``"\\d+"`` is ``\\d+``).

    >>> unquote('"caf\\\\u00e9 \\\\"ok\\\\""'), unquote('"\\\\d+ and \\\\n"')
    ('café "ok"', '\\\\d+ and \\\\n')
    """
    quote, body = literal[0], literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            if char == "\n" and quote == '"':
                return body  # Go refuses a line break inside quotes: the text stays as written
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(body):
            return body
        code = body[i + 1]
        if code in _ESCAPES and (code != "'" or quote == "'"):
            out.append(_ESCAPES[code])
            i += 2
        elif code in _HEX_ESCAPE:
            width = _HEX_ESCAPE[code]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                return body
            point = int(digits, 16)
            if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                return body
            out.append(chr(point))
            i += 2 + width
        elif code in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                return body
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            return body
    return "".join(out)
